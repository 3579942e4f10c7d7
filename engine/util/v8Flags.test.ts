// V8 flags set at run time, and put back for the code cache (cli/codeCache.ts): the flag that
// undoes each one really ends its effect.
import { runInNewContext } from 'node:vm';
import { afterEach, expect, it } from 'vitest';
import { restoreV8Flags, setV8Flag } from './v8Flags.js';

afterEach(() => restoreV8Flags());

it('sets a flag once and puts back its default with the undoing flag', () => {
  // --expose-gc shows in contexts made after it is set: a visible stand-in for any flag.
  expect(runInNewContext('typeof gc')).toBe('undefined');
  setV8Flag('--expose-gc', '--no-expose-gc');
  setV8Flag('--expose-gc', '--no-expose-gc');
  expect(runInNewContext('typeof gc')).toBe('function');
  restoreV8Flags();
  expect(runInNewContext('typeof gc')).toBe('undefined');
  // Nothing left to put back: a second restore changes nothing.
  restoreV8Flags();
  expect(runInNewContext('typeof gc')).toBe('undefined');
});

it('sets a flag to another value and still puts back the default the first setting named', () => {
  setV8Flag('--expose-gc', '--no-expose-gc');
  setV8Flag('--no-expose-gc', '--expose-gc');
  expect(runInNewContext('typeof gc')).toBe('undefined');
  setV8Flag('--expose-gc', '--no-expose-gc');
  expect(runInNewContext('typeof gc')).toBe('function');
  restoreV8Flags();
  expect(runInNewContext('typeof gc')).toBe('undefined');
});
