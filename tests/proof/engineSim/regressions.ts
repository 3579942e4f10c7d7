// Seeds of the real-engine simulation that once found a violation (in dman or in this harness),
// and seeds pinned because they reach rare paths. Every entry runs in `npm test`; add each new
// failing seed here with what it found. A change to the engine's timing or to the harness's
// draws moves every seed's story, so a pinned seed may stop reaching its case: the bugs it found
// are pinned by direct tests as well (downloadRace.test.ts, engine/installBatches.test.ts).

/** [seed, why]. */
export const ENGINE_REGRESSION_SEEDS: Array<[number, string]> = [
  [4301, 'engine (fixed in 8942179): an edit saved while the run downloaded the same file was overwritten by the rename'],
  [6563, 'engine (fixed in 8942179): the same download race, under local-wins'],
  [6524, 'harness: a merge whose text equals the remote one (the local side changed only the mode) was flagged as a silent overwrite'],
  [8689, 'harness: the same merge false positive'],
  [671, 'harness: a scan caught a file the user had just opened (empty) and published it; the empty version was flagged as torn and its replacement as a silent overwrite'],
  [401, 'harness: an empty blob was taken for a missing one'],
  [17719, 'engine: under merge, a text merge published the local mode and dropped a chmod made on another machine (see mergeMode.test.ts)'],
];
