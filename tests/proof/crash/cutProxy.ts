// A TCP proxy that cuts a database connection after exactly k client-to-server bytes: the crash
// point of a Redis or MariaDB commit is "the connection died after byte k of it".
import { createConnection, createServer, type Socket } from 'node:net';

/** A running cut proxy. */
export interface CutProxy {
  port: number;
  /** Counts client bytes from now; after `k` more (0: never) every connection is destroyed. */
  arm(k: number): void;
  /** Client bytes since the last arm. */
  counted(): number;
  close(): Promise<void>;
}

/** Starts a cut proxy on 127.0.0.1 forwarding to `target`. */
export async function startCutProxy(target: { host: string; port: number }): Promise<CutProxy> {
  let limit = 0;
  let count = 0;
  const pairs = new Set<[Socket, Socket]>();
  const cutAll = (): void => { for (const [a, b] of pairs) { a.destroy(); b.destroy(); } pairs.clear(); };
  const server = createServer((client) => {
    const up = createConnection(target);
    const pair: [Socket, Socket] = [client, up];
    pairs.add(pair);
    const drop = (): void => { client.destroy(); up.destroy(); pairs.delete(pair); };
    client.on('error', drop).on('close', drop);
    up.on('error', drop).on('close', drop);
    up.on('data', (d) => client.write(d));
    client.on('data', (d: Buffer) => {
      if (limit > 0 && count + d.length >= limit) {
        up.write(d.subarray(0, limit - count), () => setImmediate(cutAll));
        count = limit;
        limit = 0;
        return;
      }
      count += d.length;
      up.write(d);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as { port: number }).port,
    arm(k) { limit = k; count = 0; },
    counted: () => count,
    close: () => new Promise((r) => { cutAll(); server.close(() => r()); }),
  };
}
