// Socket helpers for the auth suite: /chat and /presence sockets on the real
// npm socket.io-client that resolve on connect and reject with the
// connect_error, and typed acks.

import { io, type Socket } from "socket.io-client";
import type { ErrorCode, Result } from "../../client-js/src/generated/events.ts";
import { WAIT_MS, within } from "../support/within.ts";
import type { Parley } from "../support/parley.ts";

export type Mode = "polling" | "websocket";
export const MODES: readonly Mode[] = ["polling", "websocket"];

export interface ConnectError extends Error {
  data?: { code?: string; reason?: string; message?: string };
}

const open = new Set<Socket>();

/** Closes every socket of the suite (call in afterEach). */
export function closeAll(): void {
  for (const s of [...open]) {
    s.disconnect();
    s.io.engine?.close();
    open.delete(s);
  }
}

/** A socket that is not connected yet, with reconnection off. */
export function socketFor(server: Parley, nsp: "/chat" | "/presence", mode: Mode, auth: Record<string, unknown>): Socket {
  const s = io(`${server.url}${nsp}`, { forceNew: true, reconnection: false, timeout: WAIT_MS, transports: [mode], auth });
  open.add(s);
  return s;
}

/** Resolves when s connects; rejects with its connect_error. */
export function connected(s: Socket): Promise<Socket> {
  return within(
    new Promise<Socket>((resolve, reject) => {
      s.once("connect", () => resolve(s));
      s.once("connect_error", (err) => reject(err));
    }),
    WAIT_MS,
    "connect",
  );
}

export function connect(server: Parley, nsp: "/chat" | "/presence", mode: Mode, auth: Record<string, unknown>): Promise<Socket> {
  return connected(socketFor(server, nsp, mode, auth));
}

/** Emits with an ack, bounded. */
export function call(s: Socket, ev: string, req: unknown): Promise<Result<unknown>> {
  return s.timeout(WAIT_MS).emitWithAck(ev, req) as Promise<Result<unknown>>;
}

/** The error code of a failed Result, or "ok". */
export async function outcome(s: Socket, ev: string, req: unknown): Promise<ErrorCode | "ok"> {
  const r = await call(s, ev, req);
  return r.ok ? "ok" : r.error.code;
}

/** Resolves with the disconnect reason of s. */
export function disconnected(s: Socket, ms: number = WAIT_MS): Promise<string> {
  return within(new Promise<string>((resolve) => s.once("disconnect", (reason) => resolve(reason))), ms, "disconnect");
}
