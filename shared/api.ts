// The app API (DmanApi): the one contract between the UI and the engine host. Electron's
// preload maps each method to `ipcRenderer.invoke(method, ...args)`; the headless agent carries
// the same calls over a WebSocket. Hosts validate every call's arguments against `dmanApi`.
// Expected failures come back as values: { ok: false, error: { code, message, hint } }.
import { z } from 'zod';
import type { DMAN_METHOD_NAMES } from './apiMethods.js';
import { entrySchema } from './protocol.js';

export const conflictPolicySchema = z.enum(['ask', 'server-wins', 'local-wins', 'keep-both', 'merge']);
export const storageDriverSchema = z.enum(['disk', 'redis', 'mariadb']);

const userName = z.string().min(1).max(64);
const relPathArg = z.string().min(1).max(4096);

export const errorValueSchema = z.object({ code: z.string(), message: z.string(), hint: z.string().optional() });
/** Wraps a result schema in the { ok, value } | { ok: false, error } envelope. */
export function resultOf<T extends z.ZodType>(value: T) {
  return z.discriminatedUnion('ok', [z.object({ ok: z.literal(true), value }), z.object({ ok: z.literal(false), error: errorValueSchema })]);
}

export const syncStateSchema = z.enum(['unconfigured', 'idle', 'syncing', 'conflicts', 'paused', 'offline', 'error']);
export type SyncState = z.infer<typeof syncStateSchema>;

export const userStatusSchema = z.object({
  name: z.string(),
  home: z.string(),
  files: z.number().int(),
  pending: z.number().int(),
  conflicts: z.number().int(),
  lastSyncAt: z.number().nullable(),
});

export const groupStateSchema = z.object({ name: z.string(), patterns: z.array(z.string()), enabled: z.boolean() });

export const appStateSchema = z.object({
  state: syncStateSchema,
  configured: z.boolean(),
  paused: z.boolean(),
  serverUrl: z.string().nullable(),
  device: z.string(),
  hostsServer: z.boolean(),
  lastSyncAt: z.number().nullable(),
  lastError: errorValueSchema.nullable(),
  conflictCount: z.number().int(),
  users: z.array(userStatusSchema),
  groups: z.array(groupStateSchema),
});
export type AppState = z.infer<typeof appStateSchema>;

export const conflictSchema = z.object({
  user: z.string(),
  path: z.string(),
  binary: z.boolean(),
  detectedAt: z.number(),
  localHash: z.string().nullable(),
  remoteHash: z.string().nullable(),
  /** null when the remote side is a delete, or the local side is gone */
  remoteDevice: z.string().nullable(),
});
export type Conflict = z.infer<typeof conflictSchema>;

export const conflictDetailSchema = conflictSchema.extend({
  base: z.string().nullable(),
  local: z.string().nullable(),
  remote: z.string().nullable(),
  /** 3-way merge result with conflict hunks marked (<<<<<<< mine / ======= / >>>>>>> server); null for binaries */
  merged: z.string().nullable(),
  /** true when the 3-way merge has overlapping hunks */
  hasOverlap: z.boolean(),
});
export type ConflictDetail = z.infer<typeof conflictDetailSchema>;

export const resolutionSchema = z.union([
  z.object({ keep: z.enum(['local', 'server', 'both']) }),
  z.object({ keep: z.literal('merged'), text: z.string() }),
]);
export type Resolution = z.infer<typeof resolutionSchema>;

export const activitySchema = z.object({
  time: z.number(),
  level: z.enum(['info', 'warn', 'error']),
  user: z.string().nullable(),
  path: z.string().nullable(),
  message: z.string(),
});
export type Activity = z.infer<typeof activitySchema>;

export const syncSummarySchema = z.object({
  published: z.number().int(),
  installed: z.number().int(),
  deleted: z.number().int(),
  conflicts: z.number().int(),
  skipped: z.number().int(),
  durationMs: z.number(),
});

export const planItemSchema = z.object({
  user: z.string(),
  path: z.string(),
  action: z.enum(['publish', 'install', 'delete-local', 'delete-remote', 'conflict', 'same']),
});
export const versionSchema = entrySchema();
export const versionContentSchema = z.object({ rev: z.number().int(), binary: z.boolean(), size: z.number().int(), text: z.string().nullable() });

export const previewItemSchema = z.object({ path: z.string(), tracked: z.boolean(), pattern: z.string().nullable() });

export const storageFieldsSchema = z.object({
  driver: storageDriverSchema,
  dataDir: z.string().optional(),
  addr: z.string().optional(),
  socket: z.string().optional(),
  username: z.string().optional(),
  password: z.string().optional(),
  db: z.string().optional(),
  tls: z.boolean().optional(),
});

export const setupSchema = z.object({
  mode: z.enum(['host', 'connect']),
  serverUrl: z.string().url().optional(),
  storage: storageFieldsSchema.optional(),
  user: userName,
  home: z.string().min(1),
  token: z.string().optional(),
  track: z.array(z.string()).min(1),
  groups: z.record(z.string(), z.array(z.string())).optional(),
  conflictPolicy: conflictPolicySchema.default('ask'),
});
export type Setup = z.infer<typeof setupSchema>;

export const settingsSchema = z.object({
  serverUrl: z.string().nullable(),
  hasToken: z.boolean(),
  conflictPolicy: conflictPolicySchema,
  startAtLogin: z.boolean(),
  /** Whether the app updates itself (the tray app; meaningless where supportsUpdates is false). */
  autoUpdate: z.boolean(),
  /** Whether this host can update itself: the packaged tray app yes, the agent no. */
  supportsUpdates: z.boolean(),
  groups: z.array(groupStateSchema),
  configFile: z.string().nullable(),
});
export const settingsPatchSchema = z.object({
  serverUrl: z.string().url().optional(),
  token: z.string().min(1).optional(),
  conflictPolicy: conflictPolicySchema.optional(),
  startAtLogin: z.boolean().optional(),
  autoUpdate: z.boolean().optional(),
});

/** What the wizard pre-fills: this machine's user, home, device name, default data dir and groups. */
export const setupDefaultsSchema = z.object({
  user: z.string(),
  home: z.string(),
  device: z.string(),
  dataDir: z.string(),
  serverUrl: z.string(),
  groups: z.record(z.string(), z.array(z.string())),
  /** The config file the wizard will write. */
  configFile: z.string(),
});

const none = z.tuple([]);
/** Every DmanApi method: its argument tuple and its result (inside the ok/error envelope). */
export const dmanApi = {
  getState: { args: none, result: appStateSchema },
  syncNow: { args: none, result: syncSummarySchema },
  setPaused: { args: z.tuple([z.boolean()]), result: appStateSchema },
  setGroupEnabled: { args: z.tuple([z.string().min(1), z.boolean()]), result: appStateSchema },
  listConflicts: { args: none, result: z.array(conflictSchema) },
  getConflict: { args: z.tuple([userName, relPathArg]), result: conflictDetailSchema },
  resolveConflict: { args: z.tuple([userName, relPathArg, resolutionSchema]), result: appStateSchema },
  history: { args: z.tuple([userName, relPathArg]), result: z.array(versionSchema) },
  readVersion: { args: z.tuple([userName, relPathArg, z.number().int().positive()]), result: versionContentSchema },
  restore: { args: z.tuple([userName, relPathArg, z.number().int().positive()]), result: appStateSchema },
  listFiles: { args: z.tuple([userName]), result: z.array(z.object({ path: z.string(), size: z.number(), rev: z.number().nullable() })) },
  activity: { args: z.tuple([z.number().int().min(1).max(1000)]), result: z.array(activitySchema) },
  // wizard
  testServer: { args: z.tuple([z.string().url(), z.string().optional()]), result: z.object({ version: z.string(), user: z.string().nullable(), device: z.string().nullable() }) },
  testStorage: { args: z.tuple([storageFieldsSchema]), result: z.object({ latencyMs: z.number(), warnings: z.array(z.string()) }) },
  previewTrack: { args: z.tuple([z.string().min(1), z.array(z.string())]), result: z.array(previewItemSchema) },
  planFirstSync: { args: z.tuple([setupSchema]), result: z.array(planItemSchema) },
  applySetup: { args: z.tuple([setupSchema]), result: z.object({ configFile: z.string(), token: z.string().nullable() }) },
  // wizard additions (issue 6): the machine's defaults, the embedded server, device tokens on it
  setupDefaults: { args: none, result: setupDefaultsSchema },
  startHostedServer: { args: z.tuple([storageFieldsSchema]), result: z.object({ url: z.string(), dataDir: z.string().nullable() }) },
  createDeviceToken: { args: z.tuple([userName, z.string().min(1).max(128)]), result: z.object({ token: z.string() }) },
  // settings
  getSettings: { args: none, result: settingsSchema },
  updateSettings: { args: z.tuple([settingsPatchSchema]), result: settingsSchema },
} as const;

export type DmanApiSpec = typeof dmanApi;
export type DmanMethod = keyof DmanApiSpec;
export type ApiResult<T> = { ok: true; value: T } | { ok: false; error: z.infer<typeof errorValueSchema> };

/** The typed API the renderer calls (window.dman in Electron; the WebSocket client in a browser). */
export type DmanApi = {
  [M in DmanMethod]: (...args: z.input<DmanApiSpec[M]['args']>) => Promise<ApiResult<z.infer<DmanApiSpec[M]['result']>>>;
} & {
  /** Subscribes to pushed events; returns an unsubscribe function. */
  onEvent(listener: (event: DmanEvent) => void): () => void;
};

export const dmanEventSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('state'), state: appStateSchema }),
  z.object({ type: z.literal('activity'), activity: activitySchema }),
  z.object({ type: z.literal('conflicts'), conflicts: z.array(conflictSchema) }),
  z.object({ type: z.literal('progress'), done: z.number().int(), total: z.number().int(), phase: z.string() }),
]);
export type DmanEvent = z.infer<typeof dmanEventSchema>;

/** The list of method names (the IPC channel names). */
export const dmanMethods = Object.keys(dmanApi) as DmanMethod[];

// shared/apiMethods.ts (zod-free, for the preload) must list exactly these methods.
type SameKeys<A, B> = [A] extends [B] ? ([B] extends [A] ? true : never) : never;
const _methodListsAgree: SameKeys<(typeof DMAN_METHOD_NAMES)[number], DmanMethod> = true;
void _methodListsAgree;

/** Validates a call's arguments; returns the parsed arguments or a readable problem. */
export function parseCall(method: string, args: unknown): { ok: true; method: DmanMethod; args: unknown[] } | { ok: false; message: string } {
  if (!Object.hasOwn(dmanApi, method)) return { ok: false, message: `unknown method "${method}"` };
  const spec = dmanApi[method as DmanMethod];
  const r = spec.args.safeParse(args);
  if (!r.success) return { ok: false, message: `bad arguments for ${method}: ${z.prettifyError(r.error)}` };
  return { ok: true, method: method as DmanMethod, args: r.data as unknown[] };
}

// The headless agent's WebSocket transport (renderer/transport ↔ cli/agent): the same calls as
// IPC, framed as JSON messages. Added for issue 6.

/** Path of the agent's WebSocket endpoint. */
export const AGENT_WS_PATH = '/api/ws';

/** A call from the browser: `{ id, method, args }`; args are validated with parseCall. */
export const agentRequestSchema = z.object({ id: z.number().int().nonnegative(), method: z.string().max(64), args: z.array(z.unknown()).max(8) });
export type AgentRequest = z.infer<typeof agentRequestSchema>;

/** What the agent sends: a reply to a call (by id) or a pushed event. */
export const agentMessageSchema = z.union([
  z.object({ id: z.number().int().nonnegative().nullable(), ok: z.literal(true), value: z.unknown() }),
  z.object({ id: z.number().int().nonnegative().nullable(), ok: z.literal(false), error: errorValueSchema }),
  z.object({ event: dmanEventSchema }),
]);
export type AgentMessage = z.infer<typeof agentMessageSchema>;
