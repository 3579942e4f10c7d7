// Schemas built on first use. Building a zod schema costs a few microseconds per node (~4 ms for
// the wire shapes of protocol.ts), and a one-shot `dman sync` parses almost none of the schemas
// the modules it loads define. A getter builds its schema once and returns that same schema after,
// so schemas built on it and the JSON Schemas made from it are what they were as constants.

/** Returns a getter of what `build` returns, built on the getter's first call. */
export function lazySchema<T extends object>(build: () => T): () => T {
  let schema: T | undefined;
  return () => (schema ??= build());
}
