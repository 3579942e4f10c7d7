// The zod schema of dman.yaml: the modern nested form plus the legacy forms the seed wrote
// (`include:` lists, flat `redis_*` / `maria_*` keys). Browser-safe: the setup wizard reuses it.
import { z } from 'zod';
import { lazySchema } from '../lazySchema.js';
import { USER_RE } from '../protocol.js';

/** Storage drivers the server supports, after aliases. */
export const storageDrivers = ['disk', 'redis', 'mariadb'] as const;
export type StorageDriver = (typeof storageDrivers)[number];
/** Aliases accepted for `storage_driver` (the seed accepted these). */
export const storageDriverAliases: Readonly<Record<string, StorageDriver>> = { maria: 'mariadb', mysql: 'mariadb', file: 'disk', fs: 'disk' };

/** Conflict policies (ARCHITECTURE.md: the sync model). */
export const conflictPolicies = ['ask', 'server-wins', 'local-wins', 'keep-both', 'merge'] as const;
export type ConflictPolicy = (typeof conflictPolicies)[number];

/** Accepts a driver name or an alias and yields the canonical driver. */
export const storageDriverSchema = z.preprocess(
  (v) => (typeof v === 'string' ? (storageDriverAliases[v.trim().toLowerCase()] ?? v.trim().toLowerCase()) : v),
  z.enum(storageDrivers),
);

const str = z.string().min(1, 'must not be empty');
const port = (p: string) => Number(p) >= 1 && Number(p) <= 65535;
// host:port of a Redis or MariaDB server; a URL here is a common mistake the driver would misread.
const addr = str.superRefine((v, ctx) => {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(v)) {
    ctx.addIssue({ code: 'custom', message: 'is a URL, but dman wants host:port here', params: { hint: `drop the scheme: ${v.replace(/^[a-z][a-z0-9+.-]*:\/\/(?:[^@/]*@)?/i, '').replace(/\/.*$/, '') || '127.0.0.1:6379'}` } });
    return;
  }
  const m = /^(?:\[[0-9a-fA-F:.]+\]|[^\s:/[\]]+)(?::(\d{1,5}))?$/.exec(v);
  if (m === null || (m[1] !== undefined && !port(m[1]))) {
    ctx.addIssue({ code: 'custom', message: 'is not host or host:port with a port from 1 to 65535', params: { hint: 'write it like 127.0.0.1:6379 or db.lan:3306' } });
  }
});
// YAML `track:` with nothing after it is null; treat it as an empty list.
// The server's rule for user names (shared/protocol.ts), so a config never names a user the server refuses.
const userName = z.string().regex(USER_RE, 'is not a valid user name: 1-64 letters, digits, "_", "." or "-", not starting with a digit, "." or "-"');
const trackList = z.array(z.string()).nullable();

const tlsFields = {
  tls: z.boolean().optional(),
  tls_ca: str.optional(),
  tls_cert: str.optional(),
  tls_key: str.optional(),
  tls_insecure_skip_verify: z.boolean().optional(),
  tls_server_name: str.optional(),
};

/** The `redis:` block. */
export const redisBlockSchema = z.strictObject({
  addr: addr.optional(),
  socket: str.optional(),
  username: str.optional(),
  password: z.string().optional(),
  db: z.number().int().min(0).max(15).optional(),
  /** Redis Cluster: `addr` (and `nodes`) are seed nodes; the client finds the rest. */
  cluster: z.boolean().optional(),
  /** More seed nodes of a cluster (host:port each), tried besides `addr`. */
  nodes: z.array(addr).min(1, 'must list at least one host:port').optional(),
  ...tlsFields,
});

/** The `db:` block (MariaDB/MySQL). */
export const dbBlockSchema = z.strictObject({
  addr: addr.optional(),
  socket: str.optional(),
  db: str.optional(),
  user: str.optional(),
  password: z.string().optional(),
  ...tlsFields,
});

/** One entry of `users:`; `include` is the legacy name of `track`. */
export const userBlockSchema = z.strictObject({
  home: str.optional(),
  track: trackList.optional(),
  include: trackList.optional(),
});

/** Flat legacy redis keys and the nested key each one becomes. */
export const legacyRedisKeys = {
  redis_addr: 'addr', redis_socket: 'socket', redis_username: 'username', redis_password: 'password', redis_db: 'db',
  redis_tls: 'tls', redis_tls_ca: 'tls_ca', redis_tls_cert: 'tls_cert', redis_tls_key: 'tls_key',
  redis_tls_insecure_skip_verify: 'tls_insecure_skip_verify', redis_tls_server_name: 'tls_server_name',
} as const satisfies Record<string, keyof z.infer<typeof redisBlockSchema>>;

/** Flat legacy MariaDB keys and the nested `db:` key each one becomes. */
export const legacyMariaKeys = {
  maria_addr: 'addr', maria_socket: 'socket', maria_db: 'db', maria_user: 'user', maria_password: 'password',
  maria_tls: 'tls', maria_tls_ca: 'tls_ca', maria_tls_cert: 'tls_cert', maria_tls_key: 'tls_key',
  maria_tls_insecure_skip_verify: 'tls_insecure_skip_verify', maria_tls_server_name: 'tls_server_name',
} as const satisfies Record<string, keyof z.infer<typeof dbBlockSchema>>;

const legacyFlatFields = {
  redis_addr: addr.optional(), redis_socket: str.optional(), redis_username: str.optional(), redis_password: z.string().optional(),
  redis_db: z.number().int().min(0).max(15).optional(), redis_tls: z.boolean().optional(), redis_tls_ca: str.optional(),
  redis_tls_cert: str.optional(), redis_tls_key: str.optional(), redis_tls_insecure_skip_verify: z.boolean().optional(),
  redis_tls_server_name: str.optional(),
  maria_addr: addr.optional(), maria_socket: str.optional(), maria_db: str.optional(), maria_user: str.optional(),
  maria_password: z.string().optional(), maria_tls: z.boolean().optional(), maria_tls_ca: str.optional(),
  maria_tls_cert: str.optional(), maria_tls_key: str.optional(), maria_tls_insecure_skip_verify: z.boolean().optional(),
  maria_tls_server_name: str.optional(),
};

// Blocks may be null: `redis:` with every child commented out, as in docs/config.yaml, means "no settings".
const modernFields = {
  server_url: z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }).optional(),
  auth_token: str.optional(),
  storage_driver: storageDriverSchema.optional(),
  listen: z.string().refine((v) => { const m = /^(?:\[[0-9a-fA-F:]+\]|[^\s:]*):(\d{1,5})$/.exec(v); return m !== null && port(m[1]); },
    { message: 'is not host:port with a port from 1 to 65535', params: { hint: 'write it like 127.0.0.1:3626 (or 0.0.0.0:3626 for every interface)' } }).optional(),
  data_dir: str.optional(),
  state_dir: str.optional(),
  redis: redisBlockSchema.nullable().optional(),
  db: dbBlockSchema.nullable().optional(),
  track: trackList.optional(),
  users: z.record(userName, userBlockSchema.nullable()).nullable().optional(),
  conflict_policy: z.enum(conflictPolicies).optional(),
  groups: z.record(z.string().min(1), z.array(z.string())).nullable().optional(),
  retention: z.strictObject({ versions: z.number().int().min(1).optional(), days: z.number().int().min(0).optional() }).nullable().optional(),
  device: str.optional(),
  mass_change: z.strictObject({ ratio: z.number().gt(0).max(1).optional(), min_files: z.number().int().min(0).optional() }).nullable().optional(),
  secrets: z.strictObject({ allow: z.array(z.string()).optional() }).nullable().optional(),
};

/** What dman.yaml may contain: the modern keys plus every legacy key. */
export const configFileSchema = z.strictObject({
  ...modernFields,
  include: trackList.optional(),
  ...legacyFlatFields,
});
/** A parsed dman.yaml, legacy keys and all. */
export type ConfigFile = z.infer<typeof configFileSchema>;

/**
 * The modern form of dman.yaml (what `dman config migrate` writes): no legacy keys. A getter,
 * built on first use (shared/lazySchema.ts): validation and a sync never parse with it.
 */
export const modernConfigSchema = lazySchema(() => z.strictObject({
  ...modernFields,
  users: z.record(userName, z.strictObject({ home: str.optional(), track: trackList.optional() }).nullable()).nullable().optional(),
}));
/** The modern form of dman.yaml. */
export type ModernConfig = z.infer<ReturnType<typeof modernConfigSchema>>;

/** TLS settings of a Redis or MariaDB connection after defaults. */
export interface TlsSettings {
  tls: boolean;
  tls_ca?: string;
  tls_cert?: string;
  tls_key?: string;
  tls_insecure_skip_verify: boolean;
  tls_server_name?: string;
}

/** The config every part of dman reads: defaults applied, legacy migrated, paths expanded, users inherited. */
export interface EffectiveConfig {
  server_url: string;
  auth_token?: string;
  storage_driver: StorageDriver;
  listen: string;
  data_dir?: string;
  redis: { addr?: string; socket?: string; username?: string; password?: string; db: number; cluster?: boolean; nodes?: string[] } & TlsSettings;
  db: { addr?: string; socket?: string; db?: string; user?: string; password?: string } & TlsSettings;
  track: string[];
  users: Record<string, { home: string; track: string[] }>;
  conflict_policy: ConflictPolicy;
  groups: Record<string, string[]>;
  retention: { versions: number; days: number };
  device: string;
  mass_change: { ratio: number; min_files: number };
  secrets: { allow: string[] };
  state_dir?: string;
}

/** Returns the keys a mapping at `path` may hold (for did-you-mean), or [] when the path is free-form. */
export function knownKeysAt(path: ReadonlyArray<string | number>): string[] {
  let s: z.core.$ZodType = configFileSchema;
  for (const seg of path) {
    s = unwrap(s);
    const def = s._zod.def as unknown as { type: string; shape?: Record<string, z.core.$ZodType>; valueType?: z.core.$ZodType; element?: z.core.$ZodType };
    if (def.type === 'object' && def.shape && typeof seg === 'string' && def.shape[seg]) s = def.shape[seg];
    else if (def.type === 'record' && def.valueType) s = def.valueType;
    else if (def.type === 'array' && def.element) s = def.element;
    else return [];
  }
  const def = unwrap(s)._zod.def as unknown as { type: string; shape?: Record<string, unknown> };
  return def.type === 'object' && def.shape ? Object.keys(def.shape) : [];
}

function unwrap(s: z.core.$ZodType): z.core.$ZodType {
  for (;;) {
    const def = s._zod.def as unknown as { type: string; innerType?: z.core.$ZodType; out?: z.core.$ZodType };
    if ((def.type === 'optional' || def.type === 'nullable' || def.type === 'default' || def.type === 'prefault') && def.innerType) s = def.innerType;
    else if (def.type === 'pipe' && def.out) s = def.out;
    else return s;
  }
}
