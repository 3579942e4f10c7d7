import { describe, expect, it } from 'vitest';
import { dmanMethods, type DmanApi, type DmanEvent } from '../shared/api.js';
import { EVENT_CHANNEL, forwardEvents, isTrustedSender, registerIpc, type IpcMainLike, type IpcSenderInfo } from './ipc.js';

const APP_URL = 'file:///opt/dman/resources/app.asar/dist/renderer/index.html';

/** A DmanApi whose every method records its call and answers ok. */
function recordingApi() {
  const calls: Array<{ method: string; args: unknown[] }> = [];
  const listeners = new Set<(e: DmanEvent) => void>();
  const api = Object.fromEntries(dmanMethods.map((m) => [m, async (...args: unknown[]) => { calls.push({ method: m, args }); return { ok: true, value: `${m}-result` }; }])) as unknown as DmanApi;
  api.onEvent = (l) => { listeners.add(l); return () => listeners.delete(l); };
  return { api, calls, emit: (e: DmanEvent) => listeners.forEach((l) => l(e)), listeners };
}

function fakeIpcMain() {
  const handlers = new Map<string, (event: IpcSenderInfo, ...args: unknown[]) => Promise<unknown>>();
  const ipcMain: IpcMainLike = {
    handle(channel, fn) { if (handlers.has(channel)) throw new Error(`second handler for ${channel}`); handlers.set(channel, fn); },
    removeHandler(channel) { handlers.delete(channel); },
  };
  const invoke = (channel: string, url: string | null, ...args: unknown[]) => {
    const h = handlers.get(channel);
    if (!h) throw new Error(`no handler for ${channel}`);
    return h({ senderFrame: url === null ? null : { url } }, ...args);
  };
  return { ipcMain, handlers, invoke };
}

describe('registerIpc', () => {
  it('registers exactly one handler per DmanApi method and removes them all', () => {
    const { ipcMain, handlers } = fakeIpcMain();
    const off = registerIpc({ ipcMain, api: recordingApi().api, appUrl: APP_URL });
    expect([...handlers.keys()].sort()).toEqual([...dmanMethods].sort());
    off();
    expect(handlers.size).toBe(0);
  });

  it('passes a valid call from the app window to the API with parsed arguments', async () => {
    const { ipcMain, invoke } = fakeIpcMain();
    const r = recordingApi();
    registerIpc({ ipcMain, api: r.api, appUrl: APP_URL });
    await expect(invoke('setPaused', `${APP_URL}#/status`, true)).resolves.toEqual({ ok: true, value: 'setPaused-result' });
    await expect(invoke('resolveConflict', APP_URL, 'alice', '.zshrc', { keep: 'merged', text: 'x' })).resolves.toMatchObject({ ok: true });
    expect(r.calls).toEqual([{ method: 'setPaused', args: [true] }, { method: 'resolveConflict', args: ['alice', '.zshrc', { keep: 'merged', text: 'x' }] }]);
  });

  it('answers bad arguments with a BAD_REQUEST value and never calls the API', async () => {
    const { ipcMain, invoke } = fakeIpcMain();
    const r = recordingApi();
    const warnings: unknown[] = [];
    registerIpc({ ipcMain, api: r.api, appUrl: APP_URL, log: { warn: (o) => warnings.push(o) } });
    const bad = await invoke('setPaused', APP_URL, 'yes') as { ok: boolean; error: { code: string; message: string } };
    expect(bad.ok).toBe(false);
    expect(bad.error.code).toBe('BAD_REQUEST');
    expect(bad.error.message).toContain('setPaused');
    await expect(invoke('resolveConflict', APP_URL, 'alice', '.zshrc', { keep: 'mine' })).resolves.toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
    await expect(invoke('readVersion', APP_URL, 'alice', '.zshrc', -1)).resolves.toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
    await expect(invoke('getState', APP_URL, 'extra')).resolves.toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
    expect(r.calls).toEqual([]);
    expect(warnings).toHaveLength(4);
  });

  it('refuses calls from a foreign frame or with no frame', async () => {
    const { ipcMain, invoke } = fakeIpcMain();
    const r = recordingApi();
    registerIpc({ ipcMain, api: r.api, appUrl: APP_URL });
    for (const url of ['https://evil.example/index.html', 'file:///tmp/other/index.html', 'http://127.0.0.1:5173/', null]) {
      await expect(invoke('getState', url)).resolves.toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
    }
    expect(r.calls).toEqual([]);
  });

  it('turns a throwing API method into an INTERNAL error value', async () => {
    const { ipcMain, invoke } = fakeIpcMain();
    const r = recordingApi();
    r.api.getState = async () => { throw new Error('boom'); };
    registerIpc({ ipcMain, api: r.api, appUrl: APP_URL });
    await expect(invoke('getState', APP_URL)).resolves.toEqual({ ok: false, error: { code: 'INTERNAL', message: 'boom' } });
  });
});

describe('isTrustedSender', () => {
  it('accepts the app page with any hash or query and nothing else', () => {
    expect(isTrustedSender(`${APP_URL}?view=review#x`, APP_URL)).toBe(true);
    expect(isTrustedSender('file:///opt/dman/resources/app.asar/dist/renderer/other.html', APP_URL)).toBe(false);
    expect(isTrustedSender('not a url', APP_URL)).toBe(false);
    expect(isTrustedSender(undefined, APP_URL)).toBe(false);
  });
});

describe('forwardEvents', () => {
  it('sends events to a live window and skips a destroyed one', () => {
    const r = recordingApi();
    const sent: unknown[] = [];
    let destroyed = false;
    const off = forwardEvents(r.api, () => ({ send: (ch, e) => sent.push([ch, e]), isDestroyed: () => destroyed }));
    const ev: DmanEvent = { type: 'progress', done: 1, total: 2, phase: 'scan' };
    r.emit(ev);
    destroyed = true;
    r.emit(ev);
    expect(sent).toEqual([[EVENT_CHANNEL, ev]]);
    off();
    expect(r.listeners.size).toBe(0);
  });
});
