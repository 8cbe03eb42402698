import type { ErrorCode } from "./generated/events.js";

/**
 * The code of a failed client operation: a server {@link ErrorCode}, or one
 * of the client's own: `timeout` (no ack in time), `disconnected` (the
 * connection dropped before the ack) and `closed` (the client was closed or
 * the room left before the operation finished).
 */
export type ParleyErrorCode = ErrorCode | "timeout" | "disconnected" | "closed";

/** ParleyError is how every client operation fails. */
export class ParleyError extends Error {
  override readonly name = "ParleyError";
  readonly code: ParleyErrorCode;

  constructor(code: ParleyErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

/**
 * Reports whether an operation that failed with `code` may succeed when sent
 * again unchanged: the connection or the store were the problem, not the
 * request.
 */
export function isRetriable(code: ParleyErrorCode): boolean {
  switch (code) {
    case "timeout":
    case "disconnected":
    case "rate_limited":
    case "unavailable":
    case "internal":
      return true;
    default:
      return false;
  }
}
