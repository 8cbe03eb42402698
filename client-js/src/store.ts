/**
 * A listener is called after each change with the new state and the one
 * before it (Zustand's listener shape; Redux and React pass no arguments and
 * ignore them).
 */
export type Listener<S> = (state: S, previous: S) => void;

/**
 * A read-only external store: the shape React's `useSyncExternalStore`,
 * Zustand's `useStore` and Redux's `subscribe`/`getState` consume. Methods
 * are bound, so they can be passed around on their own:
 * `useSyncExternalStore(store.subscribe, store.getState)`.
 *
 * A state object is never mutated: each change replaces it (and the parts of
 * it that changed), so `getState()` returns the same reference until
 * something changes and selectors can compare by identity.
 */
export interface ReadableStore<S> {
  getState(): S;
  /** The state before any change (React's `getServerSnapshot`, Zustand's `getInitialState`). */
  getInitialState(): S;
  /** Adds a listener; returns the function that removes it. */
  subscribe(listener: Listener<S>): () => void;
}

/** A store the client owns and updates. */
export interface WritableStore<S> extends ReadableStore<S> {
  /** Replaces the state with `update(state)`; returning the same state changes nothing. */
  update(update: (state: S) => S): void;
}

export function createStore<S>(initial: S): WritableStore<S> {
  let state = initial;
  const listeners = new Set<Listener<S>>();
  return {
    getState: () => state,
    getInitialState: () => initial,
    subscribe(listener) {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
    update(update) {
      const previous = state;
      const next = update(previous);
      if (Object.is(next, previous)) return;
      state = next;
      // A listener added or removed while notifying takes effect next time.
      for (const l of [...listeners]) l(next, previous);
    },
  };
}
