// Reading JWTs on the client: who a token names, and when to refresh it.
// Tokens are never verified here; the server does that.

import type { UserRef } from "./generated/events.js";

/**
 * Reads the user a JWT names (claims `sub` and `name`) for display. The
 * token is not verified here; the server does that.
 */
export function userFromToken(token: string): UserRef | null {
  const c = claimsOf(token);
  if (c === null || typeof c.sub !== "string") return null;
  return { id: c.sub, name: typeof c.name === "string" ? c.name : c.sub };
}

/** The unverified claims of a JWT, or null when it is not one. */
export function claimsOf(token: string): { sub?: unknown; name?: unknown; exp?: unknown } | null {
  const part = token.split(".")[1];
  if (part === undefined) return null;
  try {
    const b64 = part.replace(/-/g, "+").replace(/_/g, "/");
    const bytes = Uint8Array.from(atob(b64.padEnd(b64.length + ((4 - (b64.length % 4)) % 4), "=")), (c) =>
      c.charCodeAt(0),
    );
    const claims: unknown = JSON.parse(new TextDecoder().decode(bytes));
    return typeof claims === "object" && claims !== null ? claims : null;
  } catch {
    return null;
  }
}

/**
 * When to refresh a token that expires at `expSec` (Unix seconds): a minute
 * before, or a fifth of its remaining life for short-lived tokens; at least
 * one second from now. Undefined when the token has no exp.
 */
export function refreshDelayMs(expSec: unknown, now = Date.now()): number | undefined {
  if (typeof expSec !== "number" || !Number.isFinite(expSec)) return undefined;
  const left = expSec * 1000 - now;
  return Math.max(1000, left - Math.min(60_000, left / 5));
}
