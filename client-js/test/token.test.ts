import assert from "node:assert/strict";
import { test } from "node:test";
import { isRetriable, ParleyError, refreshDelayMs, toParleyError, userFromToken } from "../src/index.js";

/** An unsigned JWT with the claims (the client never verifies; the server does). */
function jwt(claims: object): string {
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");
  return `${b64({ alg: "HS256", typ: "JWT" })}.${b64(claims)}.sig`;
}

test("userFromToken reads sub and name, and falls back to sub", () => {
  assert.deepEqual(userFromToken(jwt({ sub: "u-1", name: "Zoë ☕" })), { id: "u-1", name: "Zoë ☕" });
  assert.deepEqual(userFromToken(jwt({ sub: "u-1" })), { id: "u-1", name: "u-1" });
  assert.equal(userFromToken(jwt({ name: "no sub" })), null);
  assert.equal(userFromToken("not a token"), null);
  assert.equal(userFromToken("a.!!!.c"), null);
});

test("refreshDelayMs: a minute before exp, a fifth of a short life, at least a second", () => {
  const now = 1_000_000_000_000;
  assert.equal(refreshDelayMs(now / 1000 + 3600, now), 3600_000 - 60_000);
  assert.equal(refreshDelayMs(now / 1000 + 100, now), 80_000);
  assert.equal(refreshDelayMs(now / 1000 - 5, now), 1000);
  assert.equal(refreshDelayMs(undefined, now), undefined);
  assert.equal(refreshDelayMs("soon", now), undefined);
});

test("socket.io-client's ack failures map to timeout and disconnected, which are retriable", () => {
  assert.equal(toParleyError(new Error("operation has timed out")).code, "timeout");
  assert.equal(toParleyError(new Error("socket has been disconnected")).code, "disconnected");
  const e = new ParleyError("forbidden", "no");
  assert.equal(toParleyError(e), e);
  for (const code of ["timeout", "disconnected", "rate_limited", "unavailable", "internal"] as const)
    assert.ok(isRetriable(code), code);
  for (const code of ["bad_request", "forbidden", "not_found", "too_large", "unauthorized", "closed"] as const)
    assert.ok(!isRetriable(code), code);
});
