// The browser's DmanApi: calls travel over the agent's WebSocket as { id, method, args } and come
// back as { id, ok, value | error }; pushed events arrive as { event }. Replies are parsed against
// the contract, so a wrong reply is an error value, never a surprise inside the UI.
import { AGENT_WS_PATH, agentMessageSchema, dmanApi, dmanEventSchema, dmanMethods, resultOf, type ApiResult, type DmanApi, type DmanEvent, type DmanMethod } from '../../shared/api.js';

type Pending = { method: DmanMethod; resolve: (r: ApiResult<unknown>) => void };

export interface WsApiOptions {
  /** Builds the socket (tests inject one). */
  createSocket?: (url: string) => WebSocket;
  /** Reconnect delay after a drop, in ms (doubles up to 10 s). */
  retryMs?: number;
  /** Called when the connection goes up or down, for a banner. */
  onConnection?: (up: boolean) => void;
}

const lost = (why: string): ApiResult<never> => ({ ok: false, error: { code: 'SERVER_UNREACHABLE', message: `lost the connection to the dman agent (${why})`, hint: 'check that `dman agent` is still running, then reload the page' } });

/** Creates a DmanApi that talks to the agent at `url` (ws://127.0.0.1:PORT/api/ws). */
export function createWsApi(url: string, opts: WsApiOptions = {}): DmanApi & { close(): void } {
  const make = opts.createSocket ?? ((u: string) => new WebSocket(u));
  const pending = new Map<number, Pending>();
  const queue: string[] = [];
  const listeners = new Set<(e: DmanEvent) => void>();
  let nextId = 1;
  let ws: WebSocket | null = null;
  let open = false;
  let closed = false;
  let delay = opts.retryMs ?? 500;

  const connect = () => {
    if (closed) return;
    const sock = make(url);
    ws = sock;
    sock.onopen = () => {
      open = true;
      delay = opts.retryMs ?? 500;
      opts.onConnection?.(true);
      for (const m of queue.splice(0)) sock.send(m);
    };
    sock.onmessage = (ev: MessageEvent) => {
      let raw: unknown;
      try { raw = JSON.parse(String(ev.data)); } catch { return; }
      const msg = agentMessageSchema.safeParse(raw);
      if (!msg.success) return;
      const m = msg.data;
      if ('event' in m) {
        const e = dmanEventSchema.safeParse(m.event);
        if (e.success) for (const l of listeners) l(e.data);
        return;
      }
      if (m.id === null) return;
      const p = pending.get(m.id);
      if (!p) return;
      pending.delete(m.id);
      if (!m.ok) return p.resolve({ ok: false, error: m.error });
      const r = resultOf(dmanApi[p.method].result).safeParse(m);
      p.resolve(r.success ? (r.data as ApiResult<unknown>) : { ok: false, error: { code: 'PROTOCOL', message: `the agent's reply to ${p.method} does not match the contract` } });
    };
    // A refused or broken connection is followed by close, which answers the pending calls.
    sock.onerror = () => {};
    sock.onclose = () => {
      const wasOpen = open;
      open = false;
      ws = null;
      for (const [id, p] of pending) { pending.delete(id); p.resolve(lost(wasOpen ? 'it closed' : 'it refused the connection')); }
      if (wasOpen) opts.onConnection?.(false);
      if (!closed) { setTimeout(connect, delay); delay = Math.min(delay * 2, 10_000); }
    };
  };
  connect();

  const call = (method: DmanMethod, args: unknown[]) => new Promise<ApiResult<unknown>>((resolve) => {
    const id = nextId++;
    pending.set(id, { method, resolve });
    // JSON has no undefined: an omitted optional argument must not arrive as null.
    const trimmed = [...args];
    while (trimmed.length > 0 && trimmed[trimmed.length - 1] === undefined) trimmed.pop();
    const m = JSON.stringify({ id, method, args: trimmed });
    if (open && ws) ws.send(m); else queue.push(m);
  });

  const api: Record<string, unknown> = {};
  for (const m of dmanMethods) api[m] = (...args: unknown[]) => call(m, args);
  api.onEvent = (l: (e: DmanEvent) => void) => { listeners.add(l); return () => { listeners.delete(l); }; };
  api.close = () => { closed = true; ws?.close(); };
  return api as unknown as DmanApi & { close(): void };
}

/** Derives the agent's WebSocket URL from the page's location. */
export function agentSocketUrl(loc: { protocol: string; host: string }): string {
  return `${loc.protocol === 'https:' ? 'wss' : 'ws'}://${loc.host}${AGENT_WS_PATH}`;
}
