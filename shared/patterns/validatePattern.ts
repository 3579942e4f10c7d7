// The config linter and the setup wizard ask this before a pattern reaches the matcher.
import { parsePattern } from './parsePattern.js';

/** Checks one track entry and returns what is wrong with it (with the fix), or null when it is usable. */
export function validatePattern(p: string): string | null {
  const parsed = parsePattern(p);
  return 'problem' in parsed ? parsed.problem : null;
}
