// `dman config migrate`: rewrites legacy keys in the YAML document itself, so comments and key
// order survive, then (with --write) backs the file up beside itself and replaces it atomically.
import { realpath, stat } from 'node:fs/promises';
import { isMap, isScalar, isSeq, parseDocument, Scalar, YAMLMap, type Document, type Pair } from 'yaml';
import { legacyMariaKeys, legacyRedisKeys, storageDriverAliases } from '../../shared/config/schema.js';
import { DmanError } from '../../shared/errors.js';
import { writeFileAtomic } from '../fs/atomic.js';
import { readConfigText } from './find.js';

/** The migrated text and what changed, one line per rewrite. */
export interface MigrationResult {
  text: string;
  isChanged: boolean;
  changes: string[];
}

/** Rewrites legacy keys (`include`, `redis_*`, `maria_*`, driver aliases) in YAML text, keeping comments. */
export function migrateConfigText(text: string, file = 'dman.yaml'): MigrationResult {
  const doc = parseDocument(text, { uniqueKeys: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    const pos = e.linePos?.[0];
    throw new DmanError('CONFIG_INVALID', `malformed YAML${pos ? ` at line ${pos.line}:${pos.col}` : ''}: ${e.message.split('\n')[0]}`, {
      hint: 'fix the YAML syntax first (`dman config lint` lists every problem)', context: { file },
    });
  }
  const root = doc.contents;
  if (root === null || (isScalar(root) && root.value === null)) return { text, isChanged: false, changes: [] };
  if (!isMap(root)) {
    throw new DmanError('CONFIG_INVALID', 'the file must be a mapping of keys', { hint: 'see docs/config.yaml for the format', context: { file } });
  }
  const changes: string[] = [];

  const driver = pairOf(root, 'storage_driver');
  if (driver && isScalar(driver.value) && typeof driver.value.value === 'string') {
    const canonical = storageDriverAliases[driver.value.value.trim().toLowerCase()];
    if (canonical) { changes.push(`storage_driver: ${driver.value.value} → ${canonical}`); driver.value.value = canonical; }
  }
  moveInclude(doc, root, '', changes);
  const users = pairOf(root, 'users');
  if (users && isMap(users.value)) {
    for (const u of users.value.items) {
      if (isMap(u.value)) moveInclude(doc, u.value, `users.${keyOf(u)}.`, changes);
    }
  }
  foldFlat(doc, root, 'redis', legacyRedisKeys, changes);
  foldFlat(doc, root, 'db', legacyMariaKeys, changes);
  if (changes.length === 0) return { text, isChanged: false, changes };
  return { text: doc.toString({ lineWidth: 0 }), isChanged: true, changes };
}

/** What `migrateConfigFile` did. */
export interface WriteResult extends MigrationResult {
  file: string;
  /** The backup written beside the file (absent when nothing changed). */
  backup?: string;
}

/** Migrates the file in place (validate runs on the result first and may throw to stop it): backup `<file>.bak-<timestamp>` first, then an atomic replace keeping the file's mode. */
export async function migrateConfigFile(file: string, opts: { now?: () => Date; validate?: (text: string) => Promise<void> } = {}): Promise<WriteResult> {
  const target = await realpath(file).catch(() => file); // replace the file a symlink points to, not the link
  const { text } = await readConfigText(target);
  const result = migrateConfigText(text, target);
  // Validate even when nothing changes: `--write` on an invalid file must say so, not "nothing to do".
  await opts.validate?.(result.text);
  if (!result.isChanged) return { ...result, file: target };
  const mode = (await stat(target)).mode & 0o7777;
  const stamp = (opts.now?.() ?? new Date()).toISOString().replace(/[:.]/g, '-');
  const backup = `${target}.bak-${stamp}`;
  await writeFileAtomic(backup, text, { mode });
  await writeFileAtomic(target, result.text, { mode });
  return { ...result, file: target, backup };
}

function keyOf(p: Pair): unknown {
  return isScalar(p.key) ? p.key.value : p.key;
}

function pairOf(map: YAMLMap, key: string): Pair | undefined {
  return map.items.find((p) => keyOf(p) === key);
}

// `include:` becomes `track:`; when both exist, include's entries are appended to track (the load-time rule).
function moveInclude(doc: Document, map: YAMLMap, prefix: string, changes: string[]): void {
  const inc = pairOf(map, 'include');
  if (!inc) return;
  const track = pairOf(map, 'track');
  if (!track || track.value === null || (isScalar(track.value) && track.value.value === null)) {
    if (track) map.items.splice(map.items.indexOf(track), 1);
    if (isScalar(inc.key)) inc.key.value = 'track';
    else inc.key = doc.createNode('track');
    changes.push(`${prefix}include → ${prefix}track`);
    return;
  }
  if (isSeq(track.value) && (isSeq(inc.value) || inc.value === null || (isScalar(inc.value) && inc.value.value === null))) {
    if (isSeq(inc.value)) for (const item of inc.value.items) track.value.items.push(item);
    map.items.splice(map.items.indexOf(inc), 1);
    changes.push(`${prefix}include appended to ${prefix}track`);
  }
}

// Flat `redis_*` / `maria_*` keys move into the nested block, which takes the place of the first flat key.
function foldFlat(doc: Document, root: YAMLMap, blockName: 'redis' | 'db', table: Record<string, string>, changes: string[]): void {
  const flat = root.items.filter((p) => typeof keyOf(p) === 'string' && Object.hasOwn(table, keyOf(p) as string));
  if (flat.length === 0) return;
  let blockPair = pairOf(root, blockName);
  if (!blockPair || !isMap(blockPair.value)) {
    const block = new YAMLMap();
    if (blockPair) blockPair.value = block;
    else {
      blockPair = doc.createPair(blockName, block) as Pair;
      root.items.splice(root.items.indexOf(flat[0]), 0, blockPair);
      // The comment above the first flat key described the connection: keep it above the block.
      const firstKey = flat[0].key;
      if (isScalar(firstKey)) {
        const k = blockPair.key as Scalar;
        k.commentBefore = firstKey.commentBefore;
        k.spaceBefore = firstKey.spaceBefore;
        firstKey.commentBefore = undefined;
        firstKey.spaceBefore = false;
      }
    }
  }
  const block = blockPair.value as YAMLMap;
  for (const p of flat) {
    const oldKey = keyOf(p) as string;
    const newKey = table[oldKey];
    root.items.splice(root.items.indexOf(p), 1);
    if (pairOf(block, newKey)) { changes.push(`${oldKey} dropped (${blockName}.${newKey} is already set and wins)`); continue; }
    const key = new Scalar(newKey);
    if (isScalar(p.key)) { key.commentBefore = p.key.commentBefore; key.spaceBefore = p.key.spaceBefore; key.comment = p.key.comment; }
    block.items.push(doc.createPair(key, null) as Pair);
    block.items[block.items.length - 1].value = p.value;
    changes.push(`${oldKey} → ${blockName}.${newKey}`);
  }
}
