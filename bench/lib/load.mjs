#!/usr/bin/env node
// Drives a dman server with autocannon from its own process (so the load generator does not share
// the bench's event loop): `node load.mjs URL TOKEN USER commit|compare CONNECTIONS SECONDS [SINCE HASH]`.
// Prints one JSON line: { requests, perSec, p50, p99, errors, non2xx }.
import autocannon from 'autocannon';

const [url, token, user, mode, conns, secs, since, hash] = process.argv.slice(2);
if (!url || !token || !user || !['commit', 'compare'].includes(mode ?? '')) {
  process.stderr.write('usage: node load.mjs URL TOKEN USER commit|compare CONNECTIONS SECONDS [SINCE HASH]\n');
  process.exit(2);
}
const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
let n = 0;
const run = (opts) => new Promise((resolve, reject) => autocannon(opts, (err, res) => (err ? reject(err) : resolve(res))));
const tag = `${process.pid}-${Date.now()}`;
const result = await run({
  url,
  connections: Number(conns),
  duration: Number(secs),
  requests: mode === 'commit'
    // Each commit creates a new path (baseRev 0), so 20 writers never conflict: this measures commits, not 409s.
    ? [{ method: 'POST', path: `/v1/users/${user}/commit`, headers,
        setupRequest: (req) => ({ ...req, body: JSON.stringify({ ops: [{ path: `.load/${tag}/f${n++}`, baseRev: 0, kind: 'file', hash, size: 5, mode: 420, mtime: 0 }] }) }) }]
    : [{ method: 'GET', path: `/v1/users/${user}/changes?since=${since ?? 0}`, headers }],
});
process.stdout.write(`${JSON.stringify({
  requests: result.requests.total, perSec: result.requests.average, p50: result.latency.p50, p99: result.latency.p99,
  errors: result.errors + result.timeouts, non2xx: result.non2xx,
})}\n`);
