// `~` and `$VAR` expansion for paths in dman.yaml. Pure: the caller passes the environment.

/** What expansion needs from the machine. */
export interface ExpandContext {
  homedir: string;
  env: Readonly<Record<string, string | undefined>>;
}

/** Either the expanded path or why it could not be expanded. */
export type ExpandResult = { ok: true; value: string } | { ok: false; message: string; hint: string };

/** Expands a leading `~` (or `~/`) to the home directory and `$VAR` / `${VAR}` to environment values. */
export function expandPath(input: string, ctx: ExpandContext): ExpandResult {
  let s = input;
  if (s === '~' || s.startsWith('~/') || s.startsWith('~\\')) s = ctx.homedir + s.slice(1);
  else if (s.startsWith('~')) {
    return { ok: false, message: `cannot expand ${s.split(/[/\\]/)[0]}: only ~ (your own home) is supported`, hint: 'write the absolute path of that home' };
  }
  let missing: string | undefined;
  s = s.replace(/\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))/g, (all, braced: string | undefined, bare: string | undefined) => {
    const name = (braced ?? bare) as string;
    const v = ctx.env[name];
    if (v === undefined || v === '') { missing ??= name; return all; }
    return v;
  });
  if (missing) return { ok: false, message: `environment variable ${missing} is not set`, hint: `set ${missing} or write the path without it` };
  return { ok: true, value: s };
}

/** Returns true for `/x`, `C:\x`, `C:/x` and `\\server\share` paths. */
export function isAbsolutePath(p: string): boolean {
  return p.startsWith('/') || /^[A-Za-z]:[\\/]/.test(p) || p.startsWith('\\\\');
}
