// What the preload script exposes, as a function of injected contextBridge and ipcRenderer so a
// plain-Node test can check the surface: exactly the DmanApi methods plus onEvent, nothing else.
import type { DmanApi, DmanEvent } from '../shared/api.js';
import { DMAN_METHOD_NAMES } from '../shared/apiMethods.js';

/** The channel main pushes DmanEvents on (main/ipc.ts EVENT_CHANNEL; preload may not import main/). */
export const EVENT_CHANNEL = 'dman:event';

/** The part of Electron's contextBridge we use. */
export interface ContextBridgeLike {
  exposeInMainWorld(key: string, api: unknown): void;
}

/** The part of Electron's ipcRenderer we use. */
export interface IpcRendererLike {
  invoke(channel: string, ...args: unknown[]): Promise<unknown>;
  on(channel: string, listener: (event: unknown, ...args: unknown[]) => void): unknown;
  removeListener(channel: string, listener: (event: unknown, ...args: unknown[]) => void): unknown;
}

/** Builds the window.dman object: each method is an invoke on the channel of its name. */
export function buildDmanBridge(ipcRenderer: IpcRendererLike): DmanApi {
  const bridge: Record<string, unknown> = {};
  for (const method of DMAN_METHOD_NAMES) {
    bridge[method] = (...args: unknown[]) => ipcRenderer.invoke(method, ...args);
  }
  bridge.onEvent = (listener: (e: DmanEvent) => void) => {
    // The renderer never sees the IpcRendererEvent (it carries `sender`, an ipcRenderer handle).
    const wrapped = (_event: unknown, e: unknown) => listener(e as DmanEvent);
    ipcRenderer.on(EVENT_CHANNEL, wrapped);
    return () => { ipcRenderer.removeListener(EVENT_CHANNEL, wrapped); };
  };
  return Object.freeze(bridge) as unknown as DmanApi;
}

/** Exposes window.dman through the context bridge. */
export function exposeDmanApi(contextBridge: ContextBridgeLike, ipcRenderer: IpcRendererLike): void {
  contextBridge.exposeInMainWorld('dman', buildDmanBridge(ipcRenderer));
}
