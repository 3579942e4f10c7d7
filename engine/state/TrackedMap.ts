// A Map that remembers which keys changed since the last save, so the file state store can
// append just those records to its journal instead of rewriting megabytes per run.

/** A Map that records the keys set or deleted since `untouch()`, and whether it was cleared. */
export class TrackedMap<K, V> extends Map<K, V> {
  /** Keys set or deleted since the last untouch(). */
  readonly touched = new Set<K>();
  /** True after clear(): the next save must write everything. */
  cleared = false;

  constructor(entries?: Iterable<readonly [K, V]> | null) {
    super();
    if (entries) for (const [k, v] of entries) super.set(k, v);
  }

  override set(key: K, value: V): this {
    // Guarded: Map's constructor calls set before our fields exist.
    this.touched?.add(key);
    return super.set(key, value);
  }

  override delete(key: K): boolean {
    const had = super.delete(key);
    if (had) this.touched.add(key);
    return had;
  }

  override clear(): void {
    super.clear();
    this.touched.clear();
    this.cleared = true;
  }

  /** Sets without recording the key as changed (loading what is already stored). */
  load(key: K, value: V): this {
    return super.set(key, value);
  }

  /** Forgets what changed (called once the changes are stored). */
  untouch(): void {
    this.touched.clear();
    this.cleared = false;
  }
}
