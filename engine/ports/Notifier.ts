// The Notifier port: desktop notifications (Electron), a log line (CLI), or a list (tests).

/** One notification for the user. */
export interface Notice { title: string; body: string; kind: 'conflict' | 'error' | 'info'; user?: string; path?: string }

/** Shows notices to the user. */
export interface Notifier { notify(n: Notice): void }

/** A Notifier that keeps what it was told (tests). */
export interface MemoryNotifier extends Notifier { readonly notices: Notice[] }

/** Creates a MemoryNotifier. */
export function createMemoryNotifier(): MemoryNotifier {
  const notices: Notice[] = [];
  return { notices, notify: (n) => void notices.push(n) };
}
