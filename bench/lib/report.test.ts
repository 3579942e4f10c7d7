import { describe, expect, it } from 'vitest';
import { formatTable, isMet, type Row } from './report.js';

const base: Row = { section: 'disk', figure: 'no-op sync', value: 100, unit: 'ms', peer: 'rsync', peerValue: 60 };

describe('isMet', () => {
  it.each([
    [{ goal: { kind: 'ratio', max: 2 } }, true],
    [{ goal: { kind: 'ratio', max: 1.5 } }, false],
    [{ goal: { kind: 'lessThanPeer' } }, false],
    [{ goal: { kind: 'lessThanPeer' }, peerValue: 101 }, true],
    [{ goal: { kind: 'abs', max: 150, unit: 'ms' }, peerValue: undefined }, true],
    [{ goal: { kind: 'abs', max: 99, unit: 'ms' } }, false],
    [{ goal: { kind: 'abs', max: 150, unit: 'MB' }, goalNote: 'goal is at 100,000 files' }, null],
    [{ goal: { kind: 'ratio', max: 2 }, peerValue: NaN }, null],
    [{}, null],
  ] as Array<[Partial<Row>, boolean | null]>)('%o → %s', (over, want) => {
    expect(isMet({ ...base, ...over })).toBe(want);
  });
});

describe('formatTable', () => {
  it('shows the ratio to the peer and the verdict, and Markdown when asked', () => {
    const rows: Row[] = [{ ...base, goal: { kind: 'ratio', max: 1.5 } }, { section: 'disk', figure: 'commits/s', value: 812.4, unit: '/s' }];
    const text = formatTable(rows);
    expect(text.split('\n')[1]).toMatch(/no-op sync\s+100 ms\s+rsync\s+60.0 ms\s+1.67x\s+≤ 1.5x\s+NO$/);
    expect(text.split('\n')[2]).toMatch(/commits\/s\s+812 \/s$/);
    const md = formatTable(rows, true).split('\n');
    expect(md[0]).toBe('| where | figure | dman | peer | peer figure | ratio | goal | met |');
    expect(md[2]).toBe('| disk | no-op sync | 100 ms | rsync | 60.0 ms | 1.67x | ≤ 1.5x | NO |');
  });
});
