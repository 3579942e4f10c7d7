// Step 2 (hosted server only): the storage driver and its fields, with Test connection.
import { useState } from 'react';
import type { ApiResult } from '../../shared/api.js';
import { useDman } from '../ApiContext.js';
import { Button, Check, ErrorNotice, Field, OkNotice } from '../ui.js';
import type { Draft } from './draft.js';

type Err = Extract<ApiResult<unknown>, { ok: false }>['error'];
type Storage = Draft['storage'];

const DRIVERS: Array<[Storage['driver'], string, string]> = [
  ['disk', 'Disk', 'A folder on this machine. Simple and fast; the default.'],
  ['redis', 'Redis', 'A Redis server; several dman servers can share it.'],
  ['mariadb', 'MariaDB / MySQL', 'A database; several dman servers can share it.'],
];

/** Renders step 2. */
export function StepStorage({ draft, update }: { draft: Draft; update: (p: Partial<Draft>) => void }) {
  const { api } = useDman();
  const [testing, setTesting] = useState(false);
  const [result, setResult] = useState<{ ok: true; text: string } | { ok: false; error: Err } | null>(null);
  const s = draft.storage;
  const set = (p: Partial<Storage>) => { update({ storage: { ...s, ...p } }); setResult(null); };

  const test = async () => {
    setTesting(true); setResult(null);
    const r = await api.testStorage(s);
    setTesting(false);
    setResult(r.ok ? { ok: true, text: `Storage works (${Math.round(r.value.latencyMs)} ms).${r.value.warnings.length ? ` ${r.value.warnings.join(' ')}` : ''}` } : { ok: false, error: r.error });
  };

  return (
    <div className="step">
      <div className="choices three" role="radiogroup" aria-label="Storage driver">
        {DRIVERS.map(([d, title, text]) => (
          <label key={d} className={`choice ${s.driver === d ? 'on' : ''}`}>
            <input type="radio" name="driver" checked={s.driver === d} onChange={() => set({ driver: d })} />
            <span className="choice-title">{title}</span>
            <span className="choice-text">{text}</span>
          </label>
        ))}
      </div>
      <div className="grid2">
        {s.driver === 'disk' && <Field label="Data folder" value={s.dataDir ?? ''} onChange={(v) => set({ dataDir: v })} help="Created if missing. Keep it out of synced folders." />}
        {s.driver !== 'disk' && <>
          <Field label="Address (host:port)" value={s.addr ?? ''} onChange={(v) => set({ addr: v || undefined })} placeholder={s.driver === 'redis' ? '127.0.0.1:6379' : '127.0.0.1:3306'} />
          <Field label="…or unix socket" value={s.socket ?? ''} onChange={(v) => set({ socket: v || undefined })} placeholder={s.driver === 'redis' ? '/run/redis/redis.sock' : '/run/mysqld/mysqld.sock'} />
          <Field label="User name" value={s.username ?? ''} onChange={(v) => set({ username: v || undefined })} />
          <Field label="Password" type="password" value={s.password ?? ''} onChange={(v) => set({ password: v || undefined })} autoComplete="new-password" />
          <Field label={s.driver === 'redis' ? 'Database number' : 'Database name'} value={s.db ?? ''} onChange={(v) => set({ db: v || undefined })} placeholder={s.driver === 'redis' ? '0' : 'dman'} />
          <div className="field"><Check label="Use TLS" checked={s.tls ?? false} onChange={(v) => set({ tls: v })} /></div>
        </>}
      </div>
      <Button onClick={() => void test()} busy={testing}>Test connection</Button>
      {result?.ok === true && <OkNotice>{result.text}</OkNotice>}
      {result?.ok === false && <ErrorNotice error={result.error} title="The storage does not work yet" />}
    </div>
  );
}
