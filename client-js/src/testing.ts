// @parley/client/testing: an in-memory fake Parley for a frontend's unit
// tests. It serves the contract — rooms, history, acks with typed errors,
// typing, presence — to the real socket.io-client stack through an
// Engine.IO transport that never touches the network, so
// `createParleyClient({ ...parley.clientOptions(), identity })` runs
// exactly the code it runs against a server.
//
// The fake follows the server's rules (the same limits, imported from the
// generated contract, the same error codes); client-js/test/kit.test.ts
// runs one set of scenarios against it and against the real server, so it
// cannot drift unnoticed. What it leaves out: private rooms, rate limits,
// connection state recovery, clusters. Presence goes offline after
// `graceMs` (default 0: at once).

import { Transport } from "engine.io-client";
import type { ManagerOptions } from "socket.io-client";
import type { ParleyClientOptions } from "./client.js";
import {
  DEFAULT_HISTORY_LIMIT,
  MAX_CLIENT_MSG_ID_CHARS,
  MAX_CONTENT_CHARS,
  MAX_HISTORY_LIMIT,
  MAX_IDENTITY_CHARS,
  MAX_USER_ID_CHARS,
  MAX_WATCH_ITEMS,
  ROOM_NAME_DOTS_PATTERN,
  ROOM_NAME_PATTERN,
  type ChatMessage,
  type ErrorCode,
  type PresenceState,
  type PresenceStatus,
  type UserRef,
} from "./generated/events.js";

export interface FakeParleyOptions {
  /**
   * Accepts the development identity `{ userId, name }` (the server's dev
   * mode). Default true.
   */
  dev?: boolean;
  /**
   * Resolves a token to its user, or null to refuse it. Default: the JWT's
   * payload `sub` and `name`, unverified, refused after its `exp`.
   */
  verifyToken?: (token: string) => UserRef | null;
  /** How long a user stays online after their last connection, in ms. Default 0. */
  graceMs?: number;
}

/** The fake server. Create it with createFakeParley. */
export interface FakeParley {
  /**
   * Options to spread into createParleyClient, next to `identity` or
   * `token`. Pass further Manager options (reconnection delays, …) here,
   * not as the client's `manager`, which would replace the fake's
   * transport.
   */
  clientOptions(manager?: Partial<ManagerOptions>): Pick<ParleyClientOptions, "url" | "manager">;
  /** Posts as `sender` without a connection, as the HTTP publish API does. */
  publish(room: string, sender: UserRef, content: string): ChatMessage;
  /** The stored messages of a room, oldest first. */
  messages(room: string): ChatMessage[];
  /** Drops every connection, as a server restart does; clients reconnect by themselves. */
  dropConnections(): void;
  /** Drops every connection and refuses new ones. */
  close(): void;
}

/** Creates an in-memory fake Parley. */
export function createFakeParley(opts: FakeParleyOptions = {}): FakeParley {
  return new Fake(opts);
}

type Json = unknown;
type Result = { ok: true; data: Json } | { ok: false; error: { code: ErrorCode; message: string } };

class ContractError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

const ok = (data: Json): Result => ({ ok: true, data });
const roomPattern = new RegExp(ROOM_NAME_PATTERN);
const dotsPattern = new RegExp(ROOM_NAME_DOTS_PATTERN);
const socketIdLike = /^[A-Za-z0-9_-]{20}$/;
const chars = (s: string) => [...s].length;

function checkRoom(room: unknown): string {
  if (typeof room !== "string" || !roomPattern.test(room) || dotsPattern.test(room)) {
    throw new ContractError(
      "bad_request",
      "invalid room name: 1 to 64 characters of A-Z a-z 0-9 _ . : -, not only dots",
    );
  }
  if (socketIdLike.test(room)) {
    throw new ContractError(
      "bad_request",
      "invalid room name: 20 characters of A-Z a-z 0-9 _ - could be taken for a socket id",
    );
  }
  return room;
}

function object(v: unknown): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v))
    throw new ContractError("bad_request", "the payload must be an object");
  return v as Record<string, unknown>;
}

function optionalString(v: unknown, what: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string") throw new ContractError("bad_request", `${what} must be a string`);
  return v;
}

/** Decodes a JWT's payload without verifying it. */
function unverifiedUser(token: string): UserRef | null {
  const part = token.split(".")[1];
  if (part === undefined) return null;
  try {
    const json = atob(part.replace(/-/g, "+").replace(/_/g, "/"));
    const claims = JSON.parse(json) as { sub?: unknown; name?: unknown; exp?: unknown };
    if (typeof claims.sub !== "string" || claims.sub === "") return null;
    if (typeof claims.exp === "number" && claims.exp * 1000 <= Date.now()) return null;
    return { id: claims.sub, name: typeof claims.name === "string" ? claims.name : claims.sub };
  } catch {
    return null;
  }
}

let lastTime = 0;
let seq = 0;
/** A UUIDv7-shaped id that sorts in creation order. */
function newId(): string {
  const now = Date.now();
  seq = now === lastTime ? seq + 1 : 0;
  lastTime = now;
  const hex = (n: number, w: number) => n.toString(16).padStart(w, "0");
  const rand = () => hex(Math.floor(Math.random() * 0x10000), 4);
  const t = hex(now, 12);
  return `${t.slice(0, 8)}-${t.slice(8)}-7${hex(seq & 0xfff, 3)}-${hex(0x8000 | ((seq >> 12) % 0x4000), 4)}-${rand()}${rand()}${rand()}`;
}

/** One namespace socket of a session. */
interface Sock {
  id: string;
  nsp: "/chat" | "/presence";
  session: Session;
  user: UserRef;
  rooms: Set<string>;
  watchUsers: Set<string>;
  watchRooms: Set<string>;
}

interface UserPresence {
  ref: UserRef;
  status: "online" | "away" | "busy";
  sockets: Set<Sock>;
  lastSeen: number;
  offlineTimer?: ReturnType<typeof setTimeout>;
}

/** Socket.IO packet types. */
const CONNECT = 0;
const DISCONNECT = 1;
const EVENT = 2;
const ACK = 3;
const CONNECT_ERROR = 4;

/** One Engine.IO session: a transport instance and its namespace sockets. */
class Session {
  readonly sockets = new Map<string, Sock>();
  #out: string[] = [];
  #flushing = false;
  #ping: ReturnType<typeof setInterval> | undefined;
  closed = false;

  constructor(
    readonly fake: Fake,
    readonly transport: FakeTransportBase,
  ) {}

  open(): void {
    const sid = randomId();
    this.transport.deliver({
      type: "open",
      data: JSON.stringify({ sid, upgrades: [], pingInterval: 25000, pingTimeout: 20000, maxPayload: 1e6 }),
    });
    this.#ping = setInterval(() => this.transport.deliver({ type: "ping" }), 20000);
    (this.#ping as { unref?: () => void }).unref?.();
  }

  /** Queues a Socket.IO packet; packets reach the client in order, asynchronously, as over a network. */
  send(type: number, nsp: string, data?: Json, id?: number): void {
    if (this.closed) return;
    this.#out.push(`${type}${nsp},${id ?? ""}${data === undefined ? "" : JSON.stringify(data)}`);
    if (this.#flushing) return;
    this.#flushing = true;
    setTimeout(() => {
      this.#flushing = false;
      const out = this.#out.splice(0);
      for (const p of out) if (!this.closed) this.transport.deliver({ type: "message", data: p });
    }, 0);
  }

  emit(sock: Sock, event: string, payload: Json): void {
    this.send(EVENT, sock.nsp, [event, payload]);
  }

  receive(packet: { type: string; data?: unknown }): void {
    if (packet.type === "close") {
      this.close();
      return;
    }
    if (packet.type !== "message" || typeof packet.data !== "string") return; // pongs
    const text = packet.data;
    const type = Number(text[0]);
    let i = 1;
    let nsp = "/";
    if (text[i] === "/") {
      const comma = text.indexOf(",", i);
      nsp = comma < 0 ? text.slice(i) : text.slice(i, comma);
      i = comma < 0 ? text.length : comma + 1;
    }
    let idText = "";
    while (i < text.length && text[i]! >= "0" && text[i]! <= "9") idText += text[i++];
    const data = i < text.length ? (JSON.parse(text.slice(i)) as Json) : undefined;
    const id = idText === "" ? undefined : Number(idText);
    this.fake.onPacket(this, type, nsp, id, data);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.#ping);
    for (const s of [...this.sockets.values()]) this.fake.disconnected(s);
    this.sockets.clear();
    this.transport.closedByServer();
  }
}

function randomId(): string {
  const abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
  let s = "";
  for (let i = 0; i < 20; i++) s += abc[Math.floor(Math.random() * 64)];
  return s;
}

/** What Session needs of its transport. */
interface FakeTransportBase {
  deliver(packet: { type: string; data?: string }): void;
  closedByServer(): void;
}

class Fake implements FakeParley {
  readonly #opts: Required<Omit<FakeParleyOptions, "verifyToken">> & Pick<FakeParleyOptions, "verifyToken">;
  readonly #sessions = new Set<Session>();
  readonly #rooms = new Map<string, Set<Sock>>(); // chat room -> its /chat sockets
  readonly #history = new Map<string, ChatMessage[]>();
  readonly #byClientId = new Map<string, ChatMessage>(); // senderId \0 clientMsgId
  readonly #presence = new Map<string, UserPresence>();
  readonly #watchers = new Set<Sock>(); // /presence sockets
  readonly #transport: typeof Transport;
  #closed = false;

  constructor(opts: FakeParleyOptions) {
    this.#opts = { dev: opts.dev ?? true, graceMs: opts.graceMs ?? 0, verifyToken: opts.verifyToken };
    const fake = this;
    // An Engine.IO transport named "websocket" (so no upgrade is tried)
    // whose other end is this fake.
    this.#transport = class FakeTransport extends Transport implements FakeTransportBase {
      #session: Session | undefined;
      override get name(): string {
        return "websocket";
      }
      protected override doOpen(): void {
        if (fake.#closed) {
          setTimeout(() => this.onError("fake parley closed", undefined, undefined), 0);
          return;
        }
        const session = new Session(fake, this);
        this.#session = session;
        fake.#sessions.add(session);
        setTimeout(() => {
          if (session.closed) return;
          this.onOpen();
          session.open();
        }, 0);
      }
      protected override doClose(): void {
        const s = this.#session;
        if (s !== undefined) {
          fake.#sessions.delete(s);
          s.close();
        }
      }
      protected override write(packets: { type: string; data?: unknown }[]): void {
        this.writable = false;
        const s = this.#session;
        for (const p of packets) if (s !== undefined && !s.closed) s.receive(p);
        setTimeout(() => {
          this.writable = true;
          this.emitReserved("drain");
        }, 0);
      }
      deliver(packet: { type: string; data?: string }): void {
        if (this.readyState === "open") this.onPacket(packet as Parameters<Transport["onPacket"]>[0]);
      }
      closedByServer(): void {
        if (this.readyState === "open" || this.readyState === "opening") {
          this.onClose({ description: "the fake server closed the connection" });
        }
      }
    } as unknown as typeof Transport;
  }

  clientOptions(manager: Partial<ManagerOptions> = {}): Pick<ParleyClientOptions, "url" | "manager"> {
    // engine.io-client takes transport classes in place of names.
    return { url: "http://parley.test", manager: { ...manager, transports: [this.#transport] as never } };
  }

  publish(room: string, sender: UserRef, content: string): ChatMessage {
    return this.#post(checkRoom(room), sender, { room, content }, undefined);
  }

  messages(room: string): ChatMessage[] {
    return [...(this.#history.get(room) ?? [])];
  }

  dropConnections(): void {
    for (const s of [...this.#sessions]) {
      this.#sessions.delete(s);
      s.close();
    }
  }

  close(): void {
    this.#closed = true;
    this.dropConnections();
  }

  // --- Socket.IO ---

  onPacket(session: Session, type: number, nsp: string, id: number | undefined, data: Json): void {
    if (type === CONNECT) {
      this.#connect(session, nsp, data);
      return;
    }
    const sock = session.sockets.get(nsp);
    if (sock === undefined) return;
    if (type === DISCONNECT) {
      session.sockets.delete(nsp);
      this.disconnected(sock);
      return;
    }
    if (type !== EVENT || !Array.isArray(data) || typeof data[0] !== "string") return;
    const [event, payload] = data as [string, Json];
    let result: Result | undefined;
    try {
      const out = nsp === "/chat" ? this.#chatEvent(sock, event, payload) : this.#presenceEvent(sock, event, payload);
      result = out === undefined ? undefined : ok(out);
    } catch (e) {
      const err = e instanceof ContractError ? e : new ContractError("internal", String(e));
      result = { ok: false, error: { code: err.code, message: err.message } };
    }
    if (id !== undefined && result !== undefined) session.send(ACK, nsp, [result], id);
  }

  #connect(session: Session, nsp: string, auth: Json): void {
    if (nsp !== "/chat" && nsp !== "/presence") {
      session.send(CONNECT_ERROR, nsp, { message: "Invalid namespace" });
      return;
    }
    const a = (typeof auth === "object" && auth !== null ? auth : {}) as Record<string, unknown>;
    let user: UserRef | null = null;
    let refusal = "missing token";
    if (typeof a["token"] === "string") {
      user = (this.#opts.verifyToken ?? unverifiedUser)(a["token"]);
      refusal = "invalid token";
    } else if (this.#opts.dev) {
      refusal = "";
      for (const f of ["userId", "name"]) {
        const v = a[f];
        if (typeof v !== "string" || v.trim() === "") refusal ||= `auth.${f} is required`;
        else if (chars(v) > MAX_IDENTITY_CHARS) refusal ||= `auth.${f} is longer than ${MAX_IDENTITY_CHARS} characters`;
      }
      if (refusal === "") user = { id: a["userId"] as string, name: a["name"] as string };
    }
    if (user === null) {
      session.send(CONNECT_ERROR, nsp, { message: "unauthorized", data: { code: "unauthorized", message: refusal } });
      return;
    }
    const sock: Sock = {
      id: randomId(),
      nsp,
      session,
      user,
      rooms: new Set(),
      watchUsers: new Set(),
      watchRooms: new Set(),
    };
    session.sockets.set(nsp, sock);
    session.send(CONNECT, nsp, { sid: sock.id });
    if (nsp === "/presence") {
      session.emit(sock, "userConnected", user.id);
      this.#watchers.add(sock);
    }
    this.#track(sock);
  }

  disconnected(sock: Sock): void {
    for (const room of [...sock.rooms]) this.#leave(sock, room);
    this.#watchers.delete(sock);
    this.#untrack(sock);
  }

  // --- /chat ---

  #chatEvent(sock: Sock, event: string, payload: Json): Json {
    switch (event) {
      case "joinRoom": {
        const room = checkRoom(object(payload)["room"]);
        if (!sock.rooms.has(room)) {
          const first = !this.#present(room, sock.user.id, sock);
          sock.rooms.add(room);
          let members = this.#rooms.get(room);
          if (members === undefined) this.#rooms.set(room, (members = new Set()));
          members.add(sock);
          if (first) {
            this.#toRoom(room, sock, "userJoined", { room, user: sock.user });
            this.#presenceChanged(sock.user.id, room);
          }
        }
        const history = this.#page(room, undefined, undefined, DEFAULT_HISTORY_LIMIT).messages;
        return { room, members: this.#members(room), history };
      }
      case "leaveRoom": {
        const room = checkRoom(object(payload)["room"]);
        if (!sock.rooms.has(room)) throw new ContractError("not_found", `not in room "${room}"`);
        this.#leave(sock, room);
        return { room };
      }
      case "chatMessage": {
        const p = object(payload);
        const room = checkRoom(p["room"]);
        if (!sock.rooms.has(room)) throw new ContractError("forbidden", `join room "${room}" before posting to it`);
        return this.#post(room, sock.user, p, sock);
      }
      case "fetchHistory": {
        const p = object(payload);
        const room = checkRoom(p["room"]);
        const before = optionalString(p["before"], "before");
        const after = optionalString(p["after"], "after");
        if (before === "") throw new ContractError("bad_request", "before must not be empty");
        if (after === "") throw new ContractError("bad_request", "after must not be empty");
        const limit = p["limit"] ?? DEFAULT_HISTORY_LIMIT;
        if (typeof limit !== "number" || !Number.isInteger(limit) || limit < 1 || limit > MAX_HISTORY_LIMIT) {
          throw new ContractError("bad_request", `limit must be 1 to ${MAX_HISTORY_LIMIT}`);
        }
        if (!sock.rooms.has(room))
          throw new ContractError("forbidden", `join room "${room}" before reading its history`);
        return this.#page(room, before, after, limit);
      }
      case "typing": {
        const p = object(payload);
        const room = checkRoom(p["room"]);
        if (sock.rooms.has(room)) {
          this.#toRoom(room, sock, "typing", { room, user: sock.user, isTyping: p["isTyping"] === true });
        }
        return undefined; // no ack
      }
    }
    throw new ContractError("not_found", `unknown event "${event}"`);
  }

  #post(room: string, sender: UserRef, p: Record<string, unknown>, from: Sock | undefined): ChatMessage {
    const content = typeof p["content"] === "string" ? p["content"].trim() : undefined;
    if (content === undefined) throw new ContractError("bad_request", "content must be a string");
    if (content === "") throw new ContractError("bad_request", "content is empty");
    if (chars(content) > MAX_CONTENT_CHARS) {
      throw new ContractError("too_large", `content is longer than ${MAX_CONTENT_CHARS} characters`);
    }
    const clientMsgId = optionalString(p["clientMsgId"], "clientMsgId");
    if (clientMsgId !== undefined && (chars(clientMsgId) === 0 || chars(clientMsgId) > MAX_CLIENT_MSG_ID_CHARS)) {
      throw new ContractError("bad_request", `clientMsgId must be 1 to ${MAX_CLIENT_MSG_ID_CHARS} characters`);
    }
    const key = clientMsgId === undefined ? undefined : `${sender.id}\0${clientMsgId}`;
    const known = key === undefined ? undefined : this.#byClientId.get(key);
    if (known !== undefined) {
      if (known.room !== room) {
        throw new ContractError("conflict", `clientMsgId "${clientMsgId}" was used for a message in another room`);
      }
      return known; // a resend: the original, not broadcast again
    }
    const msg: ChatMessage = { id: newId(), room, sender, content, timestamp: Date.now() };
    if (clientMsgId !== undefined) msg.clientMsgId = clientMsgId;
    let list = this.#history.get(room);
    if (list === undefined) this.#history.set(room, (list = []));
    list.push(msg);
    if (key !== undefined) this.#byClientId.set(key, msg);
    this.#toRoom(room, from, "newChatMessage", msg);
    return msg;
  }

  #page(room: string, before: string | undefined, after: string | undefined, limit: number) {
    const all = this.#history.get(room) ?? [];
    const index = (id: string) => {
      const i = all.findIndex((m) => m.id === id);
      if (i < 0) throw new ContractError("not_found", "the cursor names no message of this room");
      return i;
    };
    const lo = after === undefined ? 0 : index(after) + 1;
    const hi = before === undefined ? all.length : index(before);
    const range = all.slice(lo, Math.max(lo, hi));
    if (after !== undefined) return { messages: range.slice(0, limit), hasMore: range.length > limit };
    return { messages: range.slice(Math.max(0, range.length - limit)), hasMore: range.length > limit };
  }

  #members(room: string): UserRef[] {
    const seen = new Map<string, UserRef>();
    for (const s of this.#rooms.get(room) ?? []) if (!seen.has(s.user.id)) seen.set(s.user.id, s.user);
    return [...seen.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** Whether a socket of user other than `except` is in the room. */
  #present(room: string, userId: string, except?: Sock): boolean {
    for (const s of this.#rooms.get(room) ?? []) if (s !== except && s.user.id === userId) return true;
    return false;
  }

  #leave(sock: Sock, room: string): void {
    sock.rooms.delete(room);
    const members = this.#rooms.get(room);
    members?.delete(sock);
    if (members?.size === 0) this.#rooms.delete(room);
    if (!this.#present(room, sock.user.id, sock)) this.#toRoom(room, undefined, "userLeft", { room, user: sock.user });
  }

  /** Emits to every /chat socket in the room but `except`. */
  #toRoom(room: string, except: Sock | undefined, event: string, payload: Json): void {
    for (const s of this.#rooms.get(room) ?? []) if (s !== except) s.session.emit(s, event, payload);
  }

  // --- /presence ---

  #presenceEvent(sock: Sock, event: string, payload: Json): Json {
    switch (event) {
      case "setStatus": {
        const status = object(payload)["status"];
        if (status !== "online" && status !== "away" && status !== "busy") {
          throw new ContractError("bad_request", `status must be "online", "away" or "busy"`);
        }
        const p = this.#presence.get(sock.user.id);
        if (p === undefined) throw new ContractError("unavailable", "not tracked");
        p.status = status;
        this.#presenceChanged(sock.user.id);
        return this.#state(sock.user.id);
      }
      case "subscribe":
      case "unsubscribe": {
        const p = object(payload);
        const rooms = p["rooms"] ?? [];
        const userIds = p["userIds"] ?? [];
        if (!Array.isArray(rooms) || !Array.isArray(userIds))
          throw new ContractError("bad_request", "rooms and userIds are lists");
        if (rooms.length > MAX_WATCH_ITEMS || userIds.length > MAX_WATCH_ITEMS) {
          throw new ContractError(
            "too_large",
            `at most ${MAX_WATCH_ITEMS} rooms and ${MAX_WATCH_ITEMS} user ids per request`,
          );
        }
        for (const id of userIds) {
          if (typeof id !== "string" || chars(id) === 0 || chars(id) > MAX_USER_ID_CHARS) {
            throw new ContractError("bad_request", `user ids must be 1 to ${MAX_USER_ID_CHARS} characters`);
          }
        }
        const roomNames = rooms.map(checkRoom);
        if (event === "unsubscribe") {
          for (const id of userIds as string[]) sock.watchUsers.delete(id);
          for (const r of roomNames) sock.watchRooms.delete(r);
          return {};
        }
        for (const id of userIds as string[]) sock.watchUsers.add(id);
        for (const r of roomNames) sock.watchRooms.add(r);
        const ids = new Set<string>(userIds as string[]);
        for (const r of roomNames) for (const m of this.#members(r)) ids.add(m.id);
        return { users: [...ids].sort().map((id) => this.#state(id)) };
      }
    }
    throw new ContractError("not_found", `unknown event "${event}"`);
  }

  #state(userId: string): PresenceState {
    const p = this.#presence.get(userId);
    if (p === undefined) return { userId, name: "", isOnline: false, status: "offline", lastSeen: 0, connections: 0 };
    const online = p.sockets.size > 0 || p.offlineTimer !== undefined;
    const status: PresenceStatus = online ? p.status : "offline";
    return {
      userId,
      name: p.ref.name,
      isOnline: online,
      status,
      lastSeen: online ? Date.now() : p.lastSeen,
      connections: p.sockets.size,
    };
  }

  #track(sock: Sock): void {
    let p = this.#presence.get(sock.user.id);
    if (p === undefined) {
      p = { ref: sock.user, status: "online", sockets: new Set(), lastSeen: 0 };
      this.#presence.set(sock.user.id, p);
    }
    if (p.sockets.size === 0 && p.offlineTimer === undefined) p.status = "online";
    clearTimeout(p.offlineTimer);
    p.offlineTimer = undefined;
    p.ref = sock.user;
    p.sockets.add(sock);
    this.#presenceChanged(sock.user.id);
  }

  #untrack(sock: Sock): void {
    const p = this.#presence.get(sock.user.id);
    if (p === undefined || !p.sockets.delete(sock)) return;
    if (p.sockets.size > 0) {
      this.#presenceChanged(sock.user.id);
      return;
    }
    const offline = () => {
      p.offlineTimer = undefined;
      p.lastSeen = Date.now();
      this.#presenceChanged(sock.user.id);
    };
    if (this.#opts.graceMs > 0) {
      p.offlineTimer = setTimeout(offline, this.#opts.graceMs);
    } else {
      offline();
    }
  }

  /** Sends a user's state to the /presence sockets watching them (themselves included). */
  #presenceChanged(userId: string, joinedRoom?: string): void {
    const state = this.#state(userId);
    for (const w of this.#watchers) {
      const inWatchedRoom = [...w.watchRooms].some((r) => r === joinedRoom || this.#present(r, userId));
      if (w.user.id === userId || w.watchUsers.has(userId) || inWatchedRoom) w.session.emit(w, "status", state);
    }
  }
}
