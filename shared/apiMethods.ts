// The DmanApi method names (the IPC channel names) without zod, for the sandboxed preload script,
// which must stay a small self-contained bundle. shared/api.ts checks at compile time that this
// list and the `dmanApi` schemas name exactly the same methods.

/** Every DmanApi method name, in contract order. */
export const DMAN_METHOD_NAMES = [
  'getState', 'syncNow', 'setPaused', 'setGroupEnabled', 'listConflicts', 'getConflict', 'resolveConflict',
  'history', 'readVersion', 'restore', 'listFiles', 'activity',
  'testServer', 'testStorage', 'previewTrack', 'planFirstSync', 'applySetup',
  'setupDefaults', 'startHostedServer', 'createDeviceToken',
  'getSettings', 'updateSettings',
] as const;
