// Bounded waits for every TypeScript suite. Nothing sleeps to synchronise:
// a wait resolves on an event and fails after its bound.

import assert from "node:assert/strict";

/** Default bound for waiting on something that must happen (generous: CI machines are small and shared). */
export const WAIT_MS = 5000;

/** Rejects with a descriptive error when `p` does not settle within `ms`. */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Resolves after `ms`. Only for bounded negative checks (proving that
 * something did not happen) where no later event can prove it by ordering;
 * never as synchronisation.
 */
export function negativeWindow(ms: number): Promise<void> {
  assert.ok(ms <= 500, "negative checks must stay short");
  return new Promise((resolve) => setTimeout(resolve, ms));
}
