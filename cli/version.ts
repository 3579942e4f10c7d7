// Build facts for `dman version`, /health and /status. esbuild's `define` fills the build-time
// ones; under vitest/tsx they fall back to the package and git.
import { PROTOCOL_VERSION } from '../shared/protocol.js';

declare const __DMAN_VERSION__: string | undefined;
declare const __DMAN_COMMIT__: string | undefined;
declare const __DMAN_BUILD_TIME__: string | undefined;

/** Returns the version, commit, build time and protocol version of this build. */
export function buildInfo(): { version: string; commit: string; buildTime: string; protocol: number } {
  return {
    version: typeof __DMAN_VERSION__ === 'string' ? __DMAN_VERSION__ : '0.0.0-dev',
    commit: typeof __DMAN_COMMIT__ === 'string' ? __DMAN_COMMIT__ : 'unknown',
    buildTime: typeof __DMAN_BUILD_TIME__ === 'string' ? __DMAN_BUILD_TIME__ : 'unknown',
    protocol: PROTOCOL_VERSION,
  };
}
