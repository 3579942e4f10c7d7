// A placeholder shared by validation and resolution.

/** Marks a list entry the schema refused, so later checks skip it without shifting indexes. */
export const PRUNED = '\u0000dman-pruned';
