/**
 * Returns a new random (version 4) UUID for a message's `clientMsgId`.
 * `crypto.randomUUID` exists only in secure contexts (https, localhost), so
 * a page served over plain http from another host falls back to
 * `crypto.getRandomValues`, which exists everywhere.
 */
export function newClientMsgId(): string {
  const c = globalThis.crypto;
  if (typeof c.randomUUID === "function") return c.randomUUID();
  const b = c.getRandomValues(new Uint8Array(16));
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const hex = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * Orders message ids. The server assigns UUIDv7 ids, lowercase and strictly
 * increasing in commit order, so comparing the strings orders the messages.
 */
export function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
