// In-process change notifications shared by the drivers: listeners per user plus '*' for all.

/** Fans out (user, rev) events to subscribers of that user and of '*'. */
export interface Notifier {
  subscribe(user: string, onRev: (user: string, rev: number) => void): () => void;
  emit(user: string, rev: number): void;
  clear(): void;
}

/** Creates a notifier; a throwing listener never breaks the commit that emitted. */
export function createNotifier(onListenerError: (err: unknown) => void = () => {}): Notifier {
  const listeners = new Map<string, Set<(user: string, rev: number) => void>>();
  return {
    subscribe(user, onRev) {
      // Wrap so the same function subscribed twice gets two independent subscriptions.
      const fn = (u: string, r: number): void => onRev(u, r);
      let set = listeners.get(user);
      if (!set) listeners.set(user, (set = new Set()));
      set.add(fn);
      return () => {
        set.delete(fn);
      };
    },
    emit(user, rev) {
      for (const key of [user, '*']) {
        for (const fn of [...(listeners.get(key) ?? [])]) {
          try {
            fn(user, rev);
          } catch (err) {
            onListenerError(err);
          }
        }
      }
    },
    clear() {
      listeners.clear();
    },
  };
}
