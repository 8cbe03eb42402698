// Token helpers for the auth suite: HS256 JWTs signed with node:crypto (no
// JWT library, so the server is checked against an independent encoder), and
// hand-made broken ones.

import { createHmac } from "node:crypto";

export const SECRET = "e2e-auth-secret-0123456789abcdef0123";

function b64url(s: string | Buffer): string {
  return Buffer.from(s).toString("base64url");
}

export interface Claims {
  sub?: string;
  name?: string;
  /** Unix seconds; omitted when null. */
  exp?: number | null;
  aud?: string;
  iss?: string;
  rooms?: string[];
  [k: string]: unknown;
}

/** Unix seconds, `s` from now. */
export function inSeconds(s: number): number {
  return Math.floor(Date.now() / 1000) + s;
}

/** An HS256 JWT; exp defaults to an hour from now. */
export function sign(claims: Claims, secret: string = SECRET, header: Record<string, unknown> = { alg: "HS256", typ: "JWT" }): string {
  const body: Claims = { exp: inSeconds(3600), ...claims };
  if (body.exp === null) delete body.exp;
  const unsigned = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(body))}`;
  return `${unsigned}.${createHmac("sha256", secret).update(unsigned).digest("base64url")}`;
}

/** An unsigned token, alg "none". */
export function unsigned(claims: Claims): string {
  const body = { exp: inSeconds(3600), ...claims };
  return `${b64url(JSON.stringify({ alg: "none", typ: "JWT" }))}.${b64url(JSON.stringify(body))}.`;
}
