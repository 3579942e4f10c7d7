// The dman.yaml contract: schema, defaults, validation and problem reporting (browser-safe).
export { DEFAULT_GROUPS, DEFAULT_LISTEN, DEFAULT_MASS_CHANGE, DEFAULT_RETENTION, DEFAULT_SERVER_URL, DEFAULT_TRACK } from './defaults.js';
export { expandPath, isAbsolutePath, type ExpandContext, type ExpandResult } from './expand.js';
export { normalizeConfig, type NormalizeResult } from './normalize.js';
export { didYouMean, formatKeyPath, formatProblem, type ConfigProblem, type KeyPath } from './problem.js';
export { resolveConfig, type ResolveContext, type ResolveResult } from './resolve.js';
export {
  configFileSchema, conflictPolicies, modernConfigSchema, storageDrivers, storageDriverAliases,
  type ConfigFile, type ConflictPolicy, type EffectiveConfig, type ModernConfig, type StorageDriver, type TlsSettings,
} from './schema.js';
export { validateConfig, type ValidationResult } from './validate.js';
