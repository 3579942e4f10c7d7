// Turns the answers of `dman init` into dman.yaml text: only the keys that were answered, with a
// comment per section so the file explains itself. Pure, so tests can compare exact output.
import { stringify } from 'yaml';
import type { ConflictPolicy, StorageDriver } from '../../shared/config/schema.js';

// The TLS keys of a redis: or db: block (only those answered).
type Tls = { tls?: boolean; tls_ca?: string; tls_cert?: string; tls_key?: string; tls_insecure_skip_verify?: boolean; tls_server_name?: string };

/** Which parts of dman run on this machine. */
export type InitRole = 'client' | 'server' | 'both';

/** Everything `dman init` asks. */
export interface InitAnswers {
  role: InitRole;
  /** Clients: where the server is. */
  serverUrl?: string;
  /** Servers: the address to listen on. */
  listen?: string;
  storage?: StorageDriver;
  dataDir?: string;
  redis?: { addr?: string; socket?: string; username?: string; password?: string; db?: number } & Tls;
  db?: { addr?: string; socket?: string; db?: string; user?: string; password?: string } & Tls;
  users: Array<{ name: string; home: string }>;
  /** Selected group names (clients). */
  groups?: string[];
  /** The track list the selected groups make up (clients). */
  track?: string[];
  conflictPolicy?: ConflictPolicy;
}

const block = (comment: string, value: Record<string, unknown>): string =>
  `${comment.split('\n').map((l) => `# ${l}`).join('\n')}\n${stringify(value, { lineWidth: 0 })}`;

const defined = <T extends Record<string, unknown>>(o: T): Partial<T> =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && v !== '')) as Partial<T>;

/** Renders the answers as dman.yaml text. */
export function renderInitConfig(a: InitAnswers, now = new Date()): string {
  const isClient = a.role !== 'server';
  const isServer = a.role !== 'client';
  const parts: string[] = [
    `# dman.yaml written by \`dman init\` on ${now.toISOString().slice(0, 10)} (this machine: ${a.role === 'both' ? 'client and server' : a.role}).\n# Check it with \`dman config lint\`; every key is described in docs/config-reference.md.\n`,
  ];
  if (isClient && a.serverUrl) parts.push(block('Where this machine reaches the sync server. Log in with `dman login` (the token is kept\nin the keychain, not here).', { server_url: a.serverUrl }));
  if (isServer) {
    parts.push(block('The address `dman serve` listens on.', { listen: a.listen }));
    parts.push(block('Where the server stores files and history: disk, redis or mariadb.', { storage_driver: a.storage ?? 'disk' }));
    if ((a.storage ?? 'disk') === 'disk' && a.dataDir) parts.push(block('The disk driver\'s data directory.', { data_dir: a.dataDir }));
    if (a.storage === 'redis' && a.redis) parts.push(block('The Redis connection (see docs/storage.md for TLS and persistence).', { redis: defined(a.redis) }));
    if (a.storage === 'mariadb' && a.db) parts.push(block('The MariaDB/MySQL connection (see docs/storage.md).', { db: defined(a.db) }));
  }
  if (isClient && a.track) {
    parts.push(block(`What to sync, relative to each home (groups: ${(a.groups ?? []).join(', ') || 'none'}).\nGlobs; a trailing / is a whole directory; a leading ! excludes. Try \`dman ls\` and \`dman why PATH\`.`, { track: a.track }));
  }
  const users = Object.fromEntries(a.users.map((u) => [u.name, { home: u.home }]));
  parts.push(block(isServer && !isClient ? 'The users this server accepts (their homes matter on client machines).' : 'The people whose homes are synced from this machine.', { users }));
  if (isClient && a.conflictPolicy) parts.push(block('When both sides changed a file: ask, server-wins, local-wins, keep-both or merge.', { conflict_policy: a.conflictPolicy }));
  return parts.join('\n');
}
