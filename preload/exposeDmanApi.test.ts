import { describe, expect, it } from 'vitest';
import { dmanMethods, type DmanApi, type DmanEvent } from '../shared/api.js';
import { EVENT_CHANNEL, exposeDmanApi, type IpcRendererLike } from './exposeDmanApi.js';

function fakes() {
  const exposed = new Map<string, unknown>();
  const invoked: Array<[string, unknown[]]> = [];
  const listeners = new Map<string, Set<(event: unknown, ...args: unknown[]) => void>>();
  const ipcRenderer: IpcRendererLike = {
    invoke: async (channel, ...args) => { invoked.push([channel, args]); return { ok: true, value: channel }; },
    on: (channel, l) => { if (!listeners.has(channel)) listeners.set(channel, new Set()); listeners.get(channel)!.add(l); },
    removeListener: (channel, l) => { listeners.get(channel)?.delete(l); },
  };
  exposeDmanApi({ exposeInMainWorld: (k, v) => exposed.set(k, v) }, ipcRenderer);
  return { exposed, invoked, listeners };
}

describe('preload surface', () => {
  it('exposes only window.dman with exactly the DmanApi methods plus onEvent', () => {
    const { exposed } = fakes();
    expect([...exposed.keys()]).toEqual(['dman']);
    const dman = exposed.get('dman') as Record<string, unknown>;
    expect(Object.keys(dman).sort()).toEqual([...dmanMethods, 'onEvent'].sort());
    for (const k of Object.keys(dman)) expect(typeof dman[k]).toBe('function');
    expect(Object.isFrozen(dman)).toBe(true);
  });

  it('maps each method to invoke on the channel of its name with the same arguments', async () => {
    const { exposed, invoked } = fakes();
    const dman = exposed.get('dman') as DmanApi;
    await expect(dman.setPaused(true)).resolves.toEqual({ ok: true, value: 'setPaused' });
    await dman.readVersion('alice', '.zshrc', 3);
    expect(invoked).toEqual([['setPaused', [true]], ['readVersion', ['alice', '.zshrc', 3]]]);
  });

  it('delivers pushed events without the IPC event object and unsubscribes', () => {
    const { exposed, listeners } = fakes();
    const dman = exposed.get('dman') as DmanApi;
    const got: unknown[] = [];
    const off = dman.onEvent((e) => got.push(e));
    const ev: DmanEvent = { type: 'progress', done: 1, total: 3, phase: 'scan' };
    for (const l of listeners.get(EVENT_CHANNEL) ?? []) l({ sender: 'ipcRenderer handle' }, ev);
    expect(got).toEqual([ev]);
    off();
    expect(listeners.get(EVENT_CHANNEL)?.size).toBe(0);
  });
});
