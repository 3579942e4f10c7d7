import { describe, expect, it } from 'vitest';
import { isBinary, mergeText } from './mergeText.js';

const b = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('mergeText', () => {
  it('merges edits to different lines', () => {
    const r = mergeText(b('a\nb\nc\nd\n'), b('A\nb\nc\nd\n'), b('a\nb\nc\nD\n'));
    expect(r).toEqual({ ok: true, text: 'A\nb\nc\nD\n' });
  });
  it('keeps CRLF line endings and a missing final newline', () => {
    const r = mergeText(b('a\r\nb\r\nc'), b('x\r\nb\r\nc'), b('a\r\nb\r\nz'));
    expect(r).toEqual({ ok: true, text: 'x\r\nb\r\nz' });
  });
  it('refuses overlapping hunks', () => {
    const r = mergeText(b('a\nb\n'), b('a\nL\n'), b('a\nR\n'));
    expect(r.ok).toBe(false);
  });
  it('accepts the same change made on both sides', () => {
    expect(mergeText(b('a\nb\n'), b('a\nX\n'), b('a\nX\n'))).toEqual({ ok: true, text: 'a\nX\n' });
  });
  it('never merges binaries', () => {
    expect(isBinary(new Uint8Array([1, 0, 2]))).toBe(true);
    expect(isBinary(new Uint8Array([0xff, 0xfe]))).toBe(true);
    expect(isBinary(b('plain ü text'))).toBe(false);
    expect(mergeText(new Uint8Array([0, 1]), new Uint8Array([0, 2]), new Uint8Array([0, 1]))).toMatchObject({ ok: false, reason: expect.stringContaining('binary') });
  });
});
