// vitest global setup: serves connection facts of Redis and MariaDB to test workers, starting a
// throwaway instance the first time a worker asks (so unit-only runs start nothing), and stops
// everything it started at teardown. DMAN_TEST_REDIS_URL / DMAN_TEST_MARIADB_URL name existing
// servers to use instead (TLS and unix-socket cases still get throwaway ones).
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestProject } from 'vitest/node';
import { mariaDbFactsFromUrl, redisFactsFromUrl, serviceNames, startMariaDb, startRedis, startRedisCluster, sweepStaleInstanceDirs, type Instance, type ServiceName } from './services.js';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  sweepStaleInstanceDirs();
  const started = new Map<string, Promise<Instance<unknown>>>();
  const launch = (key: string, start: () => Promise<Instance<unknown>>) => {
    let p = started.get(key);
    if (!p) { p = start(); started.set(key, p); }
    return p;
  };
  const facts = async (name: ServiceName): Promise<unknown> => {
    const redisUrl = process.env.DMAN_TEST_REDIS_URL, mariaUrl = process.env.DMAN_TEST_MARIADB_URL;
    switch (name) {
      case 'redis': return redisUrl ? redisFactsFromUrl(redisUrl) : (await launch('redis', () => startRedis())).facts;
      case 'redis-socket': return (await launch('redis', () => startRedis())).facts;
      case 'redis-tls': return (await launch('redis-tls', () => startRedis({ tls: true }))).facts;
      case 'redis-cluster': return (await launch('redis-cluster', () => startRedisCluster())).facts;
      case 'mariadb': return mariaUrl ? mariaDbFactsFromUrl(mariaUrl) : (await launch('mariadb', () => startMariaDb())).facts;
      case 'mariadb-socket': return (await launch('mariadb', () => startMariaDb())).facts;
      case 'mariadb-tls': return (await launch('mariadb-tls', () => startMariaDb({ tls: true }))).facts;
    }
  };
  const server = createServer((req, res) => {
    const name = decodeURIComponent((req.url ?? '/').slice(1)) as ServiceName;
    if (!serviceNames.includes(name)) { res.writeHead(404).end(`unknown service ${name}`); return; }
    facts(name).then(
      (f) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(f)),
      (err: unknown) => res.writeHead(500).end(err instanceof Error ? err.message : String(err)),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  project.provide('dmanServices', `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  return async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const all = await Promise.allSettled([...started.values()]);
    await Promise.all(all.map((r) => (r.status === 'fulfilled' ? r.value.stop() : undefined)));
  };
}
