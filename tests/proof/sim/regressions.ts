// Seeds that once found a violation (in dman or in this harness) and seeds pinned because they
// reach rare paths. Every entry runs in `npm test`; add each new failing seed here.

/** [seed, why]. */
export const REGRESSION_SEEDS: Array<[number, string]> = [
  [96, 'harness: an edit beating a concurrent delete was first flagged as a silent overwrite (it is by design)'],
  [3, 'a chmod on a path published in the same heal round'],
  [31, 'first seed that caught mode-ignored: a chmod must reach the other clients'],
  [47, 'first seed that caught delete-ignores-base: the edit beats the remote delete'],
];
