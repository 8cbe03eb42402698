// Client-side helpers for the /chat suite: typed socket.io-client sockets per
// transport mode over the shared event log and bounded waits (e2e/support),
// and typed acks. Nothing here sleeps to synchronise: every wait resolves on an
// event or an ack and fails after a bounded timeout.

import assert from "node:assert/strict";
import { afterEach } from "node:test";
import { io, type ManagerOptions, type Socket, type SocketOptions } from "socket.io-client";
import type {
  ChatClientToServerEvents,
  ChatMessage,
  ChatServerToClientEvents,
  ErrorCode,
  Result,
  TypingNotice,
  UserRef,
} from "../../client-js/src/generated/events.ts";
import { suiteClientOptions } from "../ha/lb.ts";
import type { Parley } from "../support/parley.ts";
import { EventLog as SupportEventLog } from "../support/log.ts";
import { WAIT_MS, within, negativeWindow as supportNegativeWindow } from "../support/within.ts";

export { WAIT_MS, within };

export type ChatSocket = Socket<ChatServerToClientEvents, ChatClientToServerEvents>;

/** Bound for proving that something does NOT happen. */
export const NEGATIVE_MS = 300;

export type Mode = "polling" | "websocket" | "upgrade";
/** polling only, websocket only, and the default (polling, then upgrade to websocket). */
export const MODES: readonly Mode[] = ["polling", "websocket", "upgrade"];

function transportsFor(mode: Mode): string[] | undefined {
  switch (mode) {
    case "polling":
      return ["polling"];
    case "websocket":
      return ["websocket"];
    case "upgrade":
      return undefined; // socket.io-client default: polling, then upgrade
  }
}

/**
 * Resolves after `ms` (NEGATIVE_MS by default). Only for bounded negative
 * checks that no later event can prove by ordering; never as
 * synchronisation.
 */
export function negativeWindow(ms: number = NEGATIVE_MS): Promise<void> {
  return supportNegativeWindow(ms);
}

let seq = 0;
/**
 * A room name unique in this process (tests never share rooms). The ":"
 * keeps it from ever being shaped like a socket id (20 characters of
 * URL-safe base64), which the server refuses as a room name.
 */
export function uniqueRoom(label: string): string {
  return `${label}:${process.pid}-${++seq}`;
}

/** A handshake identity unique in this process. */
export function newUser(name: string): { userId: string; name: string } {
  return { userId: `${name.toLowerCase()}-${process.pid}-${++seq}`, name };
}

export function ref(auth: { userId: string; name: string }): UserRef {
  return { id: auth.userId, name: auth.name };
}

/** The event log of a /chat socket: payloads typed by the contract. */
export type EventLog = SupportEventLog<ChatServerToClientEvents>;

export interface ChatClient {
  readonly socket: ChatSocket;
  readonly log: EventLog;
  readonly mode: Mode;
  readonly user: UserRef;
}

export interface ClientOptions {
  mode?: Mode;
  /** Handshake identity; default a fresh newUser("User"). */
  user?: { userId: string; name: string };
  /** Raw handshake auth, replacing `user` (for identity tests). */
  auth?: Record<string, unknown>;
  /** Manager reconnection; off unless a test is about reconnecting. */
  reconnection?: boolean;
  extra?: Partial<ManagerOptions & SocketOptions>;
  /** Not closed by the per-test cleanup (for clients shared by a describe block); the caller closes it. */
  keep?: boolean;
}

const open = new Set<ChatSocket>();

/** Creates a /chat socket (own Manager, own engine) and starts recording; does not wait. */
export function createClient(server: Parley, opts: ClientOptions = {}): ChatClient {
  const mode = opts.mode ?? "websocket";
  const transports = transportsFor(mode);
  const user = opts.user ?? newUser("User");
  const socket: ChatSocket = io(`${server.url}/chat`, {
    forceNew: true,
    reconnection: opts.reconnection ?? false,
    reconnectionDelay: 50,
    reconnectionDelayMax: 200,
    randomizationFactor: 0,
    timeout: WAIT_MS,
    auth: opts.auth ?? user,
    ...(transports ? { transports } : {}),
    ...suiteClientOptions(), // the balancer's cookie, in a cluster run
    ...opts.extra,
  });
  if (!opts.keep) open.add(socket);
  const label = `${user.name} (${user.userId}, ${mode})`;
  return { socket, log: new SupportEventLog<ChatServerToClientEvents>(socket, label), mode, user: ref(user) };
}

/** Creates a client and waits until it is connected (and, in "upgrade" mode, upgraded to websocket). */
export async function connectClient(server: Parley, opts: ClientOptions = {}): Promise<ChatClient> {
  const c = createClient(server, opts);
  const upgraded =
    c.mode === "upgrade"
      ? new Promise<void>((resolve) => c.socket.io.engine.once("upgrade", () => resolve()))
      : Promise.resolve();
  await waitConnect(c);
  await c.log.nextArgs("connect"); // consume it: a later next("connect") is a reconnection
  assert.ok(c.socket.connected, "socket connected");
  await within(upgraded, WAIT_MS, "transport upgrade");
  assert.equal(c.socket.io.engine.transport.name, c.mode === "polling" ? "polling" : "websocket");
  return c;
}

/** Waits for the next "connect" of the client; rejects on "connect_error". */
export function waitConnect(c: ChatClient, ms: number = WAIT_MS): Promise<void> {
  const socket = c.socket;
  let cleanup = (): void => undefined;
  const p = new Promise<void>((resolve, reject) => {
    const onConnect = (): void => resolve();
    const onError = (err: Error): void =>
      reject(new Error(`connect_error: ${err.message} ${JSON.stringify((err as { data?: unknown }).data)}`));
    socket.once("connect", onConnect);
    socket.once("connect_error", onError);
    cleanup = () => {
      socket.off("connect", onConnect);
      socket.off("connect_error", onError);
    };
  });
  return within(p, ms, "connect").finally(cleanup);
}

export function closeClient(socket: ChatSocket): void {
  open.delete(socket);
  socket.disconnect();
  socket.io.engine?.close();
}

export function closeAllClients(): void {
  for (const s of [...open]) closeClient(s);
}

/** Closes every client created in a test after it ends (call once per file). */
export function useClientCleanup(): void {
  afterEach(() => closeAllClients());
}

/** Client events that take an ack. */
export type AckEvent = {
  [K in keyof ChatClientToServerEvents]: Parameters<ChatClientToServerEvents[K]> extends [unknown, unknown] ? K : never;
}[keyof ChatClientToServerEvents];
export type Req<E extends AckEvent> = Parameters<ChatClientToServerEvents[E]>[0];
export type Res<E extends AckEvent> = Parameters<Parameters<ChatClientToServerEvents[E]>[1]>[0];
export type Data<E extends AckEvent> = Extract<Res<E>, { ok: true }>["data"];

/** Emits a client event with its ack, bounded; resolves with the Result. */
export function call<E extends AckEvent>(socket: ChatSocket, ev: E, req: Req<E>): Promise<Res<E>> {
  // The contract's ack takes one argument; timeout() would decorate it with
  // an error-first argument, which the typed emitWithAck cannot express.
  return untyped(socket).timeout(WAIT_MS).emitWithAck(ev, req) as Promise<Res<E>>;
}

/** Emits a client event with its ack and asserts success; resolves with the data. */
export async function ok<E extends AckEvent>(socket: ChatSocket, ev: E, req: Req<E>): Promise<Data<E>> {
  const res = await call(socket, ev, req);
  if (!res.ok) assert.fail(`${ev} ${JSON.stringify(req)} failed: ${JSON.stringify(res)}`);
  return res.data as Data<E>;
}

/** The socket without the contract's types, for sending what the contract forbids. */
export function untyped(socket: ChatSocket): Socket {
  return socket as unknown as Socket;
}

/** Emits anything with an ack, bounded; resolves with the ack's first argument. */
export function callRaw(socket: ChatSocket, ev: string, ...args: unknown[]): Promise<unknown> {
  return untyped(socket)
    .timeout(WAIT_MS)
    .emitWithAck(ev, ...args);
}

/** Asserts that `res` is exactly a failed Result with `code` and a message. */
export function assertError(res: unknown, code: ErrorCode, what: string): void {
  const r = res as Result<unknown>;
  assert.equal(r.ok, false, `${what}: expected {ok:false}, got ${JSON.stringify(res)}`);
  if (r.ok) return;
  assert.deepEqual(Object.keys(r).sort(), ["error", "ok"], `${what}: ack shape`);
  assert.deepEqual(Object.keys(r.error).sort(), ["code", "message"], `${what}: error shape`);
  assert.equal(r.error.code, code, `${what}: code (message: ${r.error.message})`);
  assert.equal(typeof r.error.message, "string");
  assert.ok(r.error.message.length > 0, `${what}: message is not empty`);
}

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** Asserts that `id` is a UUIDv7 (version nibble 7, RFC 9562 variant) and returns its millisecond timestamp. */
export function uuidV7Millis(id: string): number {
  assert.match(id, UUID_V7, `UUIDv7: ${id}`);
  return parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
}

/** Sends a message and asserts the ack; resolves with the stored message. */
export function send(c: ChatClient, room: string, content: string, clientMsgId?: string): Promise<ChatMessage> {
  return ok(c.socket, "chatMessage", { room, content, ...(clientMsgId === undefined ? {} : { clientMsgId }) });
}

/** Drops a websocket's TCP connection without a close frame, or closes the polling engine. */
export function dropConnection(c: ChatClient): void {
  const transport = c.socket.io.engine.transport as unknown as { name: string; ws?: { terminate?: () => void } };
  if (transport.name === "websocket" && typeof transport.ws?.terminate === "function") {
    transport.ws.terminate();
  } else {
    c.socket.io.engine.close();
  }
}

/**
 * Emits typing {room, isTyping:true} from `from` until `to` receives a typing
 * notice (the relay is volatile, so one emit may be dropped), and returns that
 * notice. Bounded by WAIT_MS; the retry interval is not a synchronisation.
 */
export async function typeUntilSeen(from: ChatClient, to: ChatClient, room: string): Promise<TypingNotice> {
  const seen = to.log.next("typing", WAIT_MS);
  let done = false;
  const repeat = (async () => {
    while (!done) {
      from.socket.emit("typing", { room, isTyping: true });
      await Promise.race([seen.catch(() => undefined), new Promise((r) => setTimeout(r, 100))]);
    }
  })();
  try {
    return await seen;
  } finally {
    done = true;
    await repeat;
  }
}

/**
 * Waits for `user`'s isTyping:false in `room` at `to`, skipping isTyping:true
 * notices of the same user (late repeats of typeUntilSeen).
 */
export async function nextStop(
  to: ChatClient,
  room: string,
  user: UserRef,
  ms: number = WAIT_MS,
): Promise<TypingNotice> {
  const deadline = Date.now() + ms;
  for (;;) {
    const n = await to.log.next("typing", Math.max(1, deadline - Date.now()));
    assert.deepEqual({ room: n.room, user: n.user }, { room, user }, "typing notice of the expected user and room");
    if (!n.isTyping) return n;
  }
}
