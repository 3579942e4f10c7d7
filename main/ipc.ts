// IPC between the renderer and the engine host: the channel is the DmanApi method name. Every
// call is checked twice before it reaches the engine: the sender must be the app's own window
// (its frame URL), and the arguments must parse against the contract. A rejected call gets an
// error value back, so nothing is ever dropped silently. Electron's ipcMain is injected.
import { dmanMethods, parseCall, type DmanApi, type DmanEvent } from '../shared/api.js';
import type { ErrorValue } from '../shared/errors.js';

/** The channel on which main pushes DmanEvents to the renderer (preload listens on it). */
export const EVENT_CHANNEL = 'dman:event';

/** The part of Electron's IpcMainInvokeEvent we look at. */
export interface IpcSenderInfo {
  senderFrame?: { url: string } | null;
}

/** The part of Electron's ipcMain we use. */
export interface IpcMainLike {
  handle(channel: string, listener: (event: IpcSenderInfo, ...args: unknown[]) => Promise<unknown>): void;
  removeHandler(channel: string): void;
}

export interface IpcLog {
  warn(obj: object, msg: string): void;
}

/** Returns true when `url` is the app's renderer page (same file, any hash/query). */
export function isTrustedSender(url: string | undefined | null, appUrl: string): boolean {
  if (!url) return false;
  try {
    const a = new URL(url);
    const b = new URL(appUrl);
    return a.protocol === b.protocol && a.host === b.host && a.pathname === b.pathname;
  } catch {
    return false;
  }
}

/** Handles one IPC call: checks the sender and the arguments, then calls the API. */
export async function handleCall(
  api: DmanApi,
  appUrl: string,
  method: string,
  event: IpcSenderInfo,
  args: unknown[],
  log?: IpcLog,
): Promise<{ ok: true; value: unknown } | { ok: false; error: ErrorValue }> {
  const url = event.senderFrame?.url;
  if (!isTrustedSender(url, appUrl)) {
    log?.warn({ method, sender: url ?? null }, 'ipc call from a foreign sender refused');
    return { ok: false, error: { code: 'FORBIDDEN', message: `IPC call ${method} refused: it came from ${url ?? 'an unknown frame'}, not the dman window` } };
  }
  const parsed = parseCall(method, args);
  if (!parsed.ok) {
    log?.warn({ method }, 'ipc call with bad arguments refused');
    return { ok: false, error: { code: 'BAD_REQUEST', message: parsed.message } };
  }
  const fn = api[parsed.method] as (...a: unknown[]) => Promise<{ ok: true; value: unknown } | { ok: false; error: ErrorValue }>;
  try {
    return await fn(...parsed.args);
  } catch (err) {
    // The API returns failures as values; a throw is a bug, but the renderer still gets an answer.
    return { ok: false, error: { code: 'INTERNAL', message: err instanceof Error ? err.message : String(err) } };
  }
}

/** Registers one handler per DmanApi method; returns a function that removes them. */
export function registerIpc(opts: { ipcMain: IpcMainLike; api: DmanApi; appUrl: string; log?: IpcLog }): () => void {
  for (const method of dmanMethods) {
    opts.ipcMain.handle(method, (event, ...args) => handleCall(opts.api, opts.appUrl, method, event, args, opts.log));
  }
  return () => { for (const method of dmanMethods) opts.ipcMain.removeHandler(method); };
}

/** Forwards API events to a window's webContents, as long as it is alive. */
export function forwardEvents(api: DmanApi, target: () => { send(channel: string, e: DmanEvent): void; isDestroyed(): boolean } | null): () => void {
  return api.onEvent((e) => {
    const wc = target();
    if (wc && !wc.isDestroyed()) wc.send(EVENT_CHANNEL, e);
  });
}
