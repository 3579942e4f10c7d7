// The `redis.cluster` / `redis.nodes` keys: accepted as documented, and each misuse refused with
// the key, what is wrong and how to fix it (what `dman config lint` prints).
import { describe, expect, it } from 'vitest';
import { validateConfig } from './validate.js';

const ctx = { homedir: '/home/me', hostname: 'box', env: { HOME: '/home/me' } };
const errorsOf = (raw: unknown) => validateConfig(raw, ctx).problems.filter((p) => p.severity === 'error');

describe('redis cluster config', () => {
  it('accepts cluster: true with seed nodes in addr and nodes, and passes them on', () => {
    const r = validateConfig({ storage_driver: 'redis', redis: { cluster: true, addr: '10.0.0.1:7000', nodes: ['10.0.0.2:7000', 'r3.lan:7000'] } }, ctx);
    expect(r.problems).toEqual([]);
    expect(r.config?.redis).toMatchObject({ cluster: true, addr: '10.0.0.1:7000', nodes: ['10.0.0.2:7000', 'r3.lan:7000'], db: 0 });
  });

  it.each([
    [{ cluster: true, socket: '/run/redis.sock' }, 'redis.socket', /over TCP/],
    [{ cluster: true, addr: 'r:7000', db: 3 }, 'redis.db', /only database 0/],
    [{ addr: 'r:7000', nodes: ['r2:7000'] }, 'redis.nodes', /cluster is not true/],
    [{ cluster: true, nodes: ['redis://r2:7000'] }, 'redis.nodes[0]', /URL/],
    [{ cluster: true, nodes: [] }, 'redis.nodes', /at least one/],
    [{ cluster: 'yes' }, 'redis.cluster', /./],
  ])('refuses %j at %s', (redis, key, message) => {
    const errs = errorsOf({ storage_driver: 'redis', redis });
    const hit = errs.find((p) => p.key === key);
    expect(hit, JSON.stringify(errs)).toBeDefined();
    expect(hit!.message).toMatch(message);
    expect(hit!.hint?.length ?? 0).toBeGreaterThan(5);
  });
});
