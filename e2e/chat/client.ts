// Client-side helpers for the /chat suite: typed socket.io-client sockets per
// transport mode, an event log that never misses an event, typed acks, and
// bounded waits. Nothing here sleeps to synchronise: every wait resolves on an
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
import type { Parley } from "./harness.ts";

export type ChatSocket = Socket<ChatServerToClientEvents, ChatClientToServerEvents>;

/** Default bound for something that must happen (generous: CI machines are small and shared). */
export const WAIT_MS = 5000;
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
 * something did not happen); never as synchronisation.
 */
export function negativeWindow(ms: number = NEGATIVE_MS): Promise<void> {
  assert.ok(ms <= 500, "negative checks must stay short");
  return new Promise((resolve) => setTimeout(resolve, ms));
}

let seq = 0;
/** A room name unique in this process (tests never share rooms). */
export function uniqueRoom(label: string): string {
  return `${label}-${process.pid}-${++seq}`;
}

/** A handshake identity unique in this process. */
export function newUser(name: string): { userId: string; name: string } {
  return { userId: `${name.toLowerCase()}-${process.pid}-${++seq}`, name };
}

export function ref(auth: { userId: string; name: string }): UserRef {
  return { id: auth.userId, name: auth.name };
}

type ServerEvent = keyof ChatServerToClientEvents;
type Payload<E extends ServerEvent> = Parameters<ChatServerToClientEvents[E]>[0];
type Reserved = "connect" | "disconnect" | "connect_error";

interface Entry {
  readonly event: string;
  readonly args: unknown[];
  consumed: boolean;
}

interface Waiter {
  event: string;
  resolve: (args: unknown[]) => void;
}

/**
 * Records every event a socket receives, in order, from the moment the socket
 * is created. Server events keep all their arguments (with recovery on, the
 * last one is the offset string); `next` returns the payload.
 */
export class EventLog {
  readonly entries: Entry[] = [];
  private waiters: Waiter[] = [];

  /** `label` names the client in timeout messages. */
  constructor(
    private readonly socket: ChatSocket,
    private readonly label: string = "client",
  ) {
    socket.onAny((event: string, ...args: unknown[]) => this.push(event, args));
    socket.on("connect", () => this.push("connect", []));
    socket.on("disconnect", (reason, description) => this.push("disconnect", [reason, description]));
    socket.on("connect_error", (err) => this.push("connect_error", [err]));
  }

  private push(event: string, args: unknown[]): void {
    const entry: Entry = { event, args, consumed: false };
    this.entries.push(entry);
    const i = this.waiters.findIndex((w) => w.event === event);
    if (i >= 0) {
      const [w] = this.waiters.splice(i, 1);
      entry.consumed = true;
      w!.resolve(args);
    }
  }

  /** Resolves with the arguments of the first unconsumed `event`, waiting for it if needed. */
  nextArgs(event: ServerEvent | Reserved, ms: number = WAIT_MS): Promise<unknown[]> {
    const entry = this.entries.find((e) => e.event === event && !e.consumed);
    if (entry) {
      entry.consumed = true;
      return Promise.resolve(entry.args);
    }
    let waiter: Waiter | undefined;
    const p = new Promise<unknown[]>((resolve) => {
      waiter = { event, resolve };
      this.waiters.push(waiter);
    });
    return within(p, ms, `event "${event}" at ${this.label}`).catch((err: unknown) => {
      this.waiters = this.waiters.filter((w) => w !== waiter);
      throw new Error(`${(err as Error).message}; ${this.state()}`);
    });
  }

  /** The socket's state and its last disconnect, for failure messages. */
  private state(): string {
    const last = this.entries.filter((e) => e.event === "disconnect").at(-1);
    const why = last ? `, last disconnect: ${String(last.args[0])}` : "";
    return `socket ${this.socket.connected ? "connected" : "not connected"}${why}; received: ${this.entries.map((e) => e.event).join(",")}`;
  }

  /** Resolves with the payload of the first unconsumed server event `event`. */
  async next<E extends ServerEvent>(event: E, ms: number = WAIT_MS): Promise<Payload<E>> {
    const args = await this.nextArgs(event, ms);
    return args[0] as Payload<E>;
  }

  /** Payloads of every `event` received so far, consumed or not. */
  all<E extends ServerEvent>(event: E): Payload<E>[] {
    return this.entries.filter((e) => e.event === event).map((e) => e.args[0] as Payload<E>);
  }

  count(event: ServerEvent | Reserved): number {
    return this.entries.filter((e) => e.event === event).length;
  }

  /** Unconsumed entries of `event` (what a later `next` would return). */
  pending(event: ServerEvent | Reserved): number {
    return this.entries.filter((e) => e.event === event && !e.consumed).length;
  }
}

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
    ...opts.extra,
  });
  if (!opts.keep) open.add(socket);
  const label = `${user.name} (${user.userId}, ${mode})`;
  return { socket, log: new EventLog(socket, label), mode, user: ref(user) };
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
