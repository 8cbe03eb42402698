import type { ReadableStore } from "../../src/store.js";

/** Bound for something that must happen (generous: CI machines are small). */
export const WAIT_MS = 8000;

/**
 * Resolves with the first state (the current one or a later one) for which
 * `pred` holds; rejects after `ms` with `what` and the last state.
 */
export function until<S>(store: ReadableStore<S>, pred: (s: S) => boolean, what: string, ms = WAIT_MS): Promise<S> {
  return new Promise((resolve, reject) => {
    if (pred(store.getState())) return resolve(store.getState());
    const timer = setTimeout(() => {
      off();
      reject(
        new Error(
          `timed out after ${ms} ms waiting for ${what}; state: ${JSON.stringify(store.getState(), null, 1).slice(0, 3000)}`,
        ),
      );
    }, ms);
    const off = store.subscribe((s) => {
      if (!pred(s)) return;
      clearTimeout(timer);
      off();
      resolve(s);
    });
  });
}

/** Polls an async check until it holds (for state outside a store, such as the server's history). */
export async function eventually(check: () => Promise<boolean>, what: string, ms = WAIT_MS): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 25)); // poll interval
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}
