// A TCP proxy for fault tests: sits between a driver and its database and, on command, passes
// traffic, stalls it (holds every byte in both directions until passing again), resets every connection, or truncates the
// next large client-to-server write (forwards only its first N bytes, then drops the connection).
import { createConnection, createServer, type Server, type Socket } from 'node:net';

/** What the proxy does with traffic. */
export type ProxyMode = 'pass' | 'stall';

/** A running proxy; `port` is where the driver should connect. */
export interface TcpProxy {
  port: number;
  /** Passes traffic ('pass') or holds it without forwarding ('stall'). */
  setMode(mode: ProxyMode): void;
  /** Destroys every open connection with a TCP RST. */
  resetAll(): void;
  /** Forwards only the first `bytes` bytes of the next client write longer than that, then destroys that connection. */
  truncateNext(bytes: number): void;
  /** How many client connections are open now. */
  openConnections(): number;
  close(): Promise<void>;
}

/** Starts a proxy on 127.0.0.1 (random port) forwarding to host:port. */
export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  let mode: ProxyMode = 'pass';
  let truncateAfter: number | null = null;
  const pairs = new Set<{ client: Socket; upstream: Socket }>();
  const server: Server = createServer((client) => {
    const upstream = createConnection(target);
    const pair = { client, upstream };
    pairs.add(pair);
    const drop = (): void => { pairs.delete(pair); client.destroy(); upstream.destroy(); };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    if (mode === 'stall') { client.pause(); upstream.pause(); }
    client.on('data', (buf: Buffer) => {
      if (truncateAfter !== null && buf.length > truncateAfter) {
        const n = truncateAfter;
        truncateAfter = null;
        upstream.write(buf.subarray(0, n), () => drop());
        return;
      }
      upstream.write(buf);
    });
    upstream.on('data', (buf: Buffer) => client.write(buf));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (!address || typeof address !== 'object') throw new Error('proxy did not bind');
  return {
    port: address.port,
    setMode(m) {
      mode = m;
      // Paused sockets leave bytes in the kernel buffers: a stall loses nothing, it only delays.
      for (const p of pairs) {
        if (m === 'stall') { p.client.pause(); p.upstream.pause(); } else { p.client.resume(); p.upstream.resume(); }
      }
    },
    resetAll() {
      for (const p of [...pairs]) { p.client.resetAndDestroy(); p.upstream.destroy(); pairs.delete(p); }
    },
    truncateNext(bytes) { truncateAfter = bytes; },
    openConnections: () => pairs.size,
    async close() {
      for (const p of [...pairs]) { p.client.destroy(); p.upstream.destroy(); }
      pairs.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
