// The track-pattern matcher (see compileTrack.ts for the semantics).
export { compileTrack, type TrackExplanation, type TrackMatcher } from './compileTrack.js';
export { normalizeInputPath } from './normalizeInputPath.js';
export { parsePattern, PICOMATCH_OPTIONS, type ParsedPattern } from './parsePattern.js';
export { validatePattern } from './validatePattern.js';
