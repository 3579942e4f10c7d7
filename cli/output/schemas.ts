// The `--json` documents of the sync commands: zod schemas (the contract) and the JSON Schemas
// published in docs/schemas/ that scripts can validate against. Built on first use
// (shared/lazySchema.ts): only a command run with --json needs them.
import { z } from 'zod';
import { errorCodes } from '../../shared/errors.js';
import { lazySchema } from '../../shared/lazySchema.js';
import { entrySchema } from '../../shared/protocol.js';

/** Every published output schema by file name (docs/schemas/<name>.schema.json). */
export const cliOutputSchemas = lazySchema(() => {
  const policy = z.enum(['ask', 'server-wins', 'local-wins', 'keep-both', 'merge']);
  const errorValue = z.object({
    code: z.enum(errorCodes),
    message: z.string(),
    hint: z.string().optional(),
    context: z.record(z.string(), z.unknown()).optional(),
  });

  /** Describes an open conflict as the commands print it. */
  const conflictSchema = z.object({
    user: z.string(),
    path: z.string(),
    since: z.number(),
    reason: z.string(),
    local: z.object({ kind: z.enum(['file', 'symlink']), hash: z.string(), size: z.number(), mode: z.number() }).nullable(),
    remote: entrySchema().nullable(),
    baseRev: z.number().nullable(),
  });

  const userReport = z.object({
    user: z.string(),
    home: z.string(),
    actions: z.array(z.object({
      path: z.string(),
      type: z.enum(['nothing', 'install', 'publish', 'converged', 'merge', 'conflict', 'skip']),
      conflict: policy.optional(),
      error: errorValue.optional(),
    })),
    conflicts: z.array(conflictSchema),
    skipped: z.array(z.object({ path: z.string(), reason: z.string() })),
    errors: z.array(errorValue),
    counts: z.object({
      published: z.number().int(), installed: z.number().int(), deleted: z.number().int(), converged: z.number().int(),
      conflicts: z.number().int(), skipped: z.number().int(), errors: z.number().int(), unchanged: z.number().int(),
    }),
    unmatchedOnly: z.array(z.string()),
    excludedOnly: z.array(z.object({ glob: z.string(), pattern: z.string().nullable() })),
    timings: z.object({ scanMs: z.number(), fetchMs: z.number(), planMs: z.number(), applyMs: z.number(), totalMs: z.number() }),
  });

  /** Describes the output of `dman sync|publish|install --json`. */
  const syncOutputSchema = z.object({
    ok: z.boolean(),
    exitCode: z.number().int(),
    command: z.enum(['sync', 'publish', 'install']),
    opId: z.string(),
    direction: z.enum(['both', 'publish', 'install']),
    dryRun: z.boolean(),
    offline: z.boolean(),
    totalMs: z.number(),
    users: z.array(userReport),
  });

  /** Describes the output of `dman compare --json`. */
  const compareOutputSchema = z.object({
    ok: z.literal(true),
    lines: z.array(z.object({
      user: z.string(),
      path: z.string(),
      state: z.enum(['add', 'modify', 'delete', 'same', 'conflict']),
      direction: z.enum(['local', 'remote', 'none']),
    })),
  });

  /** Describes the output of `dman conflicts --json`. */
  const conflictsOutputSchema = z.object({ ok: z.literal(true), conflicts: z.array(conflictSchema) });

  /** Describes the output of `dman resolve --json`. */
  const resolveOutputSchema = z.object({
    ok: z.literal(true), user: z.string(), path: z.string(), kept: z.enum(['local', 'server', 'both']), remaining: z.number().int(),
  });

  /** Describes the output of `dman history --json`. */
  const historyOutputSchema = z.object({ ok: z.literal(true), user: z.string(), path: z.string(), entries: z.array(entrySchema()) });

  /** Describes the output of `dman restore --json`. */
  const restoreOutputSchema = z.object({ ok: z.literal(true), user: z.string(), path: z.string(), fromRev: z.number().int(), entry: entrySchema() });

  /** Describes the output of `dman status --json`. */
  const statusOutputSchema = z.object({
    ok: z.literal(true),
    serverUrl: z.string(),
    online: z.boolean(),
    configFile: z.string().nullable(),
    users: z.array(z.object({
      user: z.string(), home: z.string(), tracked: z.number().int(), pending: z.number().int(), conflicts: z.number().int(),
      /** Paths held back (secrets, unreadable), never counted as pending. */
      skipped: z.number().int().optional(),
      lastSyncAt: z.number().nullable(), headRev: z.number().int(),
    })),
  });

  /** Describes one line of `dman watch --json` (JSON Lines: one event per line). */
  const watchEventSchema = z.discriminatedUnion('event', [
    z.object({ event: z.literal('watching'), users: z.array(z.string()), serverUrl: z.string() }),
    z.object({ event: z.literal('synced'), user: z.string(), time: z.number(), actions: userReport.shape.actions, conflicts: z.number().int() }),
    z.object({ event: z.literal('conflict'), time: z.number(), conflict: conflictSchema }),
    z.object({ event: z.literal('error'), time: z.number(), user: z.string().optional(), path: z.string().optional(), error: errorValue }),
    z.object({ event: z.literal('stopped'), reason: z.string() }),
  ]);

  /** Describes what every command prints with --json when it fails. */
  const errorOutputSchema = z.object({
    ok: z.literal(false),
    error: z.object({ code: z.string(), message: z.string(), hint: z.string().optional(), context: z.unknown().optional() }),
  });

  return {
    sync: syncOutputSchema,
    compare: compareOutputSchema,
    conflicts: conflictsOutputSchema,
    resolve: resolveOutputSchema,
    history: historyOutputSchema,
    restore: restoreOutputSchema,
    status: statusOutputSchema,
    'watch-event': watchEventSchema,
    error: errorOutputSchema,
  } as const;
});
/** The output schemas by name. */
export type CliOutputSchemas = ReturnType<typeof cliOutputSchemas>;
export type CliOutputName = keyof CliOutputSchemas;

/** Builds the JSON Schema document of one command output. */
export function buildOutputJsonSchema(name: CliOutputName): Record<string, unknown> {
  const { $schema: _drop, ...rest } = z.toJSONSchema(cliOutputSchemas()[name], { io: 'output', unrepresentable: 'any', target: 'draft-2020-12' }) as Record<string, unknown>;
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: `https://dman.invalid/schemas/${name}.schema.json`,
    title: `dman ${name} --json`,
    description: `Output of the dman CLI with --json. Generated from cli/output/schemas.ts; do not edit by hand (regenerate with DMAN_UPDATE_SCHEMA=1 npx vitest run cli/output/schemas.test.ts).`,
    ...rest,
  };
}

/** Formats a schema document the way it is stored on disk. */
export function schemaFileText(name: CliOutputName): string {
  return `${JSON.stringify(buildOutputJsonSchema(name), null, 2)}\n`;
}
