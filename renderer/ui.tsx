// Small building blocks shared by every screen: buttons, fields, notices, pills, time formats.
import { useId, type ButtonHTMLAttributes, type KeyboardEvent, type ReactNode } from 'react';
import { formatAgo } from '../shared/formatAgo.js';
import type { ApiResult, SyncState } from '../shared/api.js';

type ErrorValue = Extract<ApiResult<unknown>, { ok: false }>['error'];

/** A real <button> with a variant and a busy state (keyboard and screen-reader friendly). */
export function Button({ variant = 'secondary', busy = false, children, disabled, ...rest }: ButtonHTMLAttributes<HTMLButtonElement> & { variant?: 'primary' | 'secondary' | 'danger' | 'ghost'; busy?: boolean }) {
  return (
    <button type="button" className={`btn btn-${variant}`} disabled={disabled || busy} aria-busy={busy || undefined} {...rest}>
      {busy && <span className="spinner" aria-hidden="true" />}
      {children}
    </button>
  );
}

/** A labelled input with optional help text. */
export function Field({ label, help, value, onChange, type = 'text', placeholder, name, autoComplete = 'off', required }: {
  label: string; help?: ReactNode; value: string; onChange: (v: string) => void; type?: string; placeholder?: string; name?: string; autoComplete?: string; required?: boolean;
}) {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <input id={id} name={name} type={type} value={value} placeholder={placeholder} autoComplete={autoComplete} spellCheck={false} required={required}
        aria-describedby={help ? `${id}-help` : undefined} onChange={(e) => onChange(e.target.value)} />
      {help && <div className="help" id={`${id}-help`}>{help}</div>}
    </div>
  );
}

/** A labelled checkbox. */
export function Check({ label, checked, onChange, help }: { label: ReactNode; checked: boolean; onChange: (v: boolean) => void; help?: ReactNode }) {
  const id = useId();
  return (
    <div className="check">
      <input id={id} type="checkbox" checked={checked} onChange={(e) => onChange(e.target.checked)} />
      <label htmlFor={id}>{label}{help && <span className="help"> {help}</span>}</label>
    </div>
  );
}

/** Shows an error value: what went wrong and how to fix it. */
export function ErrorNotice({ error, title }: { error: ErrorValue | null | undefined; title?: string }) {
  if (!error) return null;
  return (
    <div className="notice notice-error" role="alert">
      <strong>{title ?? 'Something went wrong'}</strong>
      <p>{error.message}</p>
      {error.hint && <p className="hint">{error.hint}</p>}
    </div>
  );
}

/** A short success line. */
export function OkNotice({ children }: { children: ReactNode }) {
  return <div className="notice notice-ok" role="status">{children}</div>;
}

const STATE_TEXT: Record<SyncState, string> = {
  unconfigured: 'Not set up', idle: 'Up to date', syncing: 'Syncing', conflicts: 'Conflicts', paused: 'Paused', offline: 'Offline', error: 'Error',
};

/** A coloured pill naming the sync state. */
export function StatePill({ state }: { state: SyncState }) {
  return <span className={`pill pill-${state}`}><span className="dot" aria-hidden="true" />{STATE_TEXT[state]}</span>;
}

/** Formats "3 min ago". */
export function ago(t: number | null, now = Date.now()): string {
  return formatAgo(t, now);
}

/** Formats a timestamp in the user's locale. */
export function when(t: number): string {
  return new Date(t).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

/** Formats a byte count. */
export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

/** A page header with a title, a subtitle and actions on the right. */
export function PageHeader({ title, subtitle, actions }: { title: string; subtitle?: ReactNode; actions?: ReactNode }) {
  return (
    <header className="page-header">
      <div>
        <h1>{title}</h1>
        {subtitle && <p className="subtitle">{subtitle}</p>}
      </div>
      {actions && <div className="actions">{actions}</div>}
    </header>
  );
}

/** A row of mutually exclusive options (a radio group): Tab reaches the chosen one, arrow keys move. */
export function Segmented<T extends string>({ label, value, options, onChange }: { label: string; value: T; options: Array<[T, string]>; onChange: (v: T) => void }) {
  const move = (e: KeyboardEvent<HTMLDivElement>) => {
    const i = options.findIndex(([v]) => v === value);
    const d = e.key === 'ArrowRight' || e.key === 'ArrowDown' ? 1 : e.key === 'ArrowLeft' || e.key === 'ArrowUp' ? -1 : 0;
    if (d === 0) return;
    e.preventDefault();
    const next = options[(i + d + options.length) % options.length]![0];
    onChange(next);
    const buttons = e.currentTarget.querySelectorAll<HTMLButtonElement>('button');
    buttons[(i + d + options.length) % options.length]?.focus();
  };
  return (
    <div className="segmented" role="radiogroup" aria-label={label} onKeyDown={move}>
      {options.map(([v, text]) => (
        <button key={v} type="button" role="radio" aria-checked={value === v} tabIndex={value === v ? 0 : -1} className={value === v ? 'on' : ''} onClick={() => onChange(v)}>{text}</button>
      ))}
    </div>
  );
}
