// canonicalList keeps one sorted key order per distinct key list: two lists that would join to one
// string (["a", "b"] and ["a\0b"]) must not share it (found in review; not reachable through the commit routes).
import { expect, it } from 'vitest';
import { canonicalJson, canonicalList } from './commitRules.js';

it('canonicalList equals canonicalJson when a key holds a NUL', () => {
  const list = [{ a: 1, b: 2 }, { 'a\0b': 3 }];
  expect(canonicalList(list)).toBe(canonicalJson(list));
});
