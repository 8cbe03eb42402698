import { Manager, type ManagerOptions, type Socket } from "socket.io-client";
import type {
  ChatClientToServerEvents,
  ChatMessage,
  ChatServerToClientEvents,
  FetchHistoryResult,
  PresenceClientToServerEvents,
  PresenceServerToClientEvents,
  PresenceState,
  Result,
  UserRef,
  UserStatus,
  WatchRequest,
} from "./generated/events.js";
import { DEFAULT_HISTORY_LIMIT, MAX_CONTENT_CHARS, MAX_HISTORY_LIMIT, MAX_WATCH_ITEMS } from "./generated/events.js";
import { isRetriable, ParleyError, type ParleyErrorCode } from "./errors.js";
import { newClientMsgId } from "./ids.js";
import { createStore, type ReadableStore } from "./store.js";
import {
  addMember,
  addMessage,
  applyPage,
  dropPending,
  initialState,
  mergeMessages,
  newRoom,
  removeMember,
  removeRoom,
  setMembers,
  setPending,
  setPresence,
  setTyping,
  updateRoom,
  type ParleyState,
  type PendingMessage,
  type RoomState,
  type Transport,
} from "./state.js";
import { TypingThrottle, type TypingOptions } from "./typing.js";

/** The typed /chat socket. */
export type ChatSocket = Socket<ChatServerToClientEvents, ChatClientToServerEvents>;
/** The typed /presence socket. */
export type PresenceSocket = Socket<PresenceServerToClientEvents, PresenceClientToServerEvents>;

/** A development identity: the server's dev mode trusts it as given. */
export interface DevIdentity {
  userId: string;
  name: string;
}

export interface ParleyClientOptions {
  /** The server's origin, e.g. `https://chat.example.com` or, in a page it serves, `location.origin`. */
  url: string;
  /**
   * The JWT sent as handshake `auth: { token }` on every namespace. A
   * function is called on each (re)connection, and again shortly before the
   * token's `exp`, whose result is sent as `refreshToken` so the server
   * does not disconnect; with a plain string the connection ends at `exp`.
   * Exactly one of `token` and `identity` is required.
   */
  token?: string | (() => string | Promise<string>);
  /** Development identity, sent as handshake `auth: { userId, name }` (dev mode only). */
  identity?: DevIdentity;
  /** Engine.IO transports in order of preference. Default `["polling", "websocket"]` (polling, then upgrade). */
  transports?: readonly Transport[];
  /** How long an ack may take, in ms, before the operation fails with `timeout` (`send` retries). Default 10000. */
  ackTimeoutMs?: number;
  /** Typing indicator throttling. */
  typing?: TypingOptions;
  /** Further socket.io-client Manager options (reconnection delays, path, …). */
  manager?: Partial<ManagerOptions>;
  /**
   * Whether to watch presence by itself: each joined room, and every user
   * seen in one (so a user who left is still followed until offline).
   * Default true.
   */
  autoWatch?: boolean;
}

export interface HistoryQuery {
  /** Messages older than this id. */
  before?: string;
  /** Messages newer than this id. */
  after?: string;
  /** Page size, 1 to {@link MAX_HISTORY_LIMIT}. Default {@link DEFAULT_HISTORY_LIMIT}. */
  limit?: number;
}

export interface ParleyClient {
  /** The one Engine.IO connection every namespace shares. */
  readonly manager: Manager;
  /** The typed /chat socket, for anything the helpers do not cover. */
  readonly chat: ChatSocket;
  /** The typed /presence socket. */
  readonly presence: PresenceSocket;
  /** The client's state: connection, rooms with their messages, members and typing users. */
  readonly store: ReadableStore<ParleyState>;
  /**
   * Joins a room, now or as soon as the client is connected, and resolves
   * once the server acked (members and the latest history are in the store).
   * The room is re-joined by itself after a reconnection.
   */
  join(room: string): Promise<RoomState>;
  /** Leaves a room and drops its state and its unsent messages. */
  leave(room: string): Promise<void>;
  /**
   * Sends a message and resolves with it as stored. It is queued while the
   * client is offline and sent, in order, once the room is re-joined; it is
   * resent after a lost ack with the same `clientMsgId`, which the server
   * deduplicates, so it is never stored twice. Rejects with a ParleyError
   * when the server refuses it for good (the message then stays in the
   * room's `pending` as `failed` until `dismiss`).
   */
  send(room: string, content: string): Promise<ChatMessage>;
  /** Removes a failed message from `pending`. */
  dismiss(room: string, clientMsgId: string): void;
  /**
   * Fetches a page of a joined room's history (see the `fetchHistory`
   * contract) and stores it when it adjoins what the store holds; `{ before:
   * oldest id }` loads older messages.
   */
  history(room: string, query?: HistoryQuery): Promise<FetchHistoryResult>;
  /** Call on every keystroke in a room's composer: sends a throttled typing indicator. */
  typing(room: string): void;
  /** Ends the typing indicator in a room (sending does this by itself). */
  stopTyping(room: string): void;
  /**
   * Watches the presence of users, and of the users present in chat rooms:
   * their states land in the store's `presence`, now and on every change.
   * Watches are renewed after a reconnection.
   */
  watch(req: WatchRequest): Promise<void>;
  /** Stops watching users and rooms. */
  unwatch(req: WatchRequest): Promise<void>;
  /** Sets this user's status (for every tab of the user). */
  setStatus(status: UserStatus): Promise<PresenceState>;
  /** Disconnects for good; pending operations fail with `closed`. */
  close(): void;
}

/** The size of the history a join returns. */
const JOIN_HISTORY = DEFAULT_HISTORY_LIMIT;
/** Page size and page budget when catching up after a reconnection. */
const RESYNC_PAGE = MAX_HISTORY_LIMIT;
const RESYNC_MAX_PAGES = 10;
/** Retries of a send that the server refused with a retriable code (not counting connection loss). */
const SEND_MAX_ATTEMPTS = 6;
const RETRY_BASE_MS = 250;
const RETRY_MAX_MS = 5000;

type Args<M, E extends keyof M> = M[E] extends (...args: infer A) => void ? A : never;
/** The events of a client-to-server map that take an ack. */
type AckEvents<M> = {
  [E in keyof M]: Args<M, E> extends [unknown, (res: Result<never>) => void] ? E : never;
}[keyof M];
/** The payload of event E. */
type ReqOf<M, E extends keyof M> = Args<M, E>[0];
/** The data of a successful ack of event E. */
type ResOf<M, E extends keyof M> = Args<M, E> extends [unknown, (res: Result<infer T>) => void] ? T : never;

type AckEvent = AckEvents<ChatClientToServerEvents>;
type Req<E extends AckEvent> = ReqOf<ChatClientToServerEvents, E>;
type Res<E extends AckEvent> = ResOf<ChatClientToServerEvents, E>;
type PresenceAckEvent = AckEvents<PresenceClientToServerEvents>;
type PReq<E extends PresenceAckEvent> = ReqOf<PresenceClientToServerEvents, E>;
type PRes<E extends PresenceAckEvent> = ResOf<PresenceClientToServerEvents, E>;

interface OutboxItem {
  readonly clientMsgId: string;
  readonly room: string;
  readonly content: string;
  attempts: number;
  notBefore: number;
  readonly resolve: (m: ChatMessage) => void;
  readonly reject: (e: ParleyError) => void;
}

interface Waiter {
  resolve: (r: RoomState) => void;
  reject: (e: ParleyError) => void;
}

/** Creates a client and starts connecting. */
export function createParleyClient(opts: ParleyClientOptions): ParleyClient {
  return new Client(opts);
}

class Client implements ParleyClient {
  readonly manager: Manager;
  readonly chat: ChatSocket;
  readonly presence: PresenceSocket;
  readonly #autoWatch: boolean;
  /** What is watched, renewed on each /presence connection. */
  readonly #watched = { rooms: new Set<string>(), userIds: new Set<string>() };
  /** Counts status events; #statusTick[user] is the count when that user's last one arrived. */
  #ticks = 0;
  readonly #statusTick = new Map<string, number>();
  readonly #store = createStore<ParleyState>(initialState(null));
  readonly store: ReadableStore<ParleyState>;
  readonly #ackTimeoutMs: number;
  readonly #typing: TypingThrottle;
  /** Incremented on each connect: work started for an older connection stops. */
  #epoch = 0;
  /** Rooms being re-joined, with the live messages that arrived meanwhile. */
  readonly #syncing = new Map<string, { epoch: number; buffer: ChatMessage[] }>();
  readonly #waiters = new Map<string, Waiter[]>();
  readonly #outbox: OutboxItem[] = [];
  #flushing = false;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #refreshTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #tokenFn: (() => string | Promise<string>) | undefined;
  #closed = false;

  constructor(opts: ParleyClientOptions) {
    if ((opts.token === undefined) === (opts.identity === undefined)) {
      throw new TypeError("createParleyClient: pass exactly one of token and identity");
    }
    this.#ackTimeoutMs = opts.ackTimeoutMs ?? 10_000;
    this.#tokenFn = typeof opts.token === "function" ? opts.token : undefined;
    this.store = {
      getState: this.#store.getState,
      getInitialState: this.#store.getInitialState,
      subscribe: this.#store.subscribe,
    };
    if (opts.identity !== undefined) {
      this.#setSelf({ id: opts.identity.userId, name: opts.identity.name });
    } else if (typeof opts.token === "string") {
      this.#setSelf(userFromToken(opts.token));
    }
    this.manager = new Manager(opts.url, {
      transports: [...(opts.transports ?? ["polling", "websocket"])],
      ...opts.manager,
      autoConnect: false,
    });
    const auth = this.#auth(opts);
    this.chat = this.manager.socket("/chat", { auth });
    this.presence = this.manager.socket("/presence", { auth });
    this.#autoWatch = opts.autoWatch ?? true;
    this.#typing = new TypingThrottle((room, isTyping) => {
      if (this.chat.connected) this.chat.emit("typing", { room, isTyping });
    }, opts.typing);
    this.#wire();
    this.#wirePresence();
    this.chat.connect();
    this.presence.connect();
  }

  #auth(opts: ParleyClientOptions): Record<string, unknown> | ((cb: (data: object) => void) => void) {
    const { token, identity } = opts;
    if (identity !== undefined) return { userId: identity.userId, name: identity.name };
    if (typeof token === "string") return { token };
    return (cb) => {
      Promise.resolve()
        .then(token)
        .then(
          (t) => {
            this.#setSelf(userFromToken(t));
            this.#scheduleRefresh(t);
            cb({ token: t });
          },
          // The server refuses the empty token; the error reaches connect_error.
          () => cb({ token: "" }),
        );
    };
  }

  /** Arms the refresh of the token in use before it expires (token functions only). */
  #scheduleRefresh(token: string): void {
    clearTimeout(this.#refreshTimer);
    const delay = refreshDelayMs(claimsOf(token)?.exp);
    if (delay === undefined || this.#closed) return;
    this.#refreshTimer = setTimeout(() => void this.#refresh(), delay);
  }

  /**
   * Gets a new token and hands it to both sockets. A failure is left alone:
   * the server disconnects at exp, and the reconnection asks for a token
   * again.
   */
  async #refresh(): Promise<void> {
    const fn = this.#tokenFn;
    if (fn === undefined || this.#closed) return;
    let token: string;
    try {
      token = await fn();
    } catch {
      return;
    }
    const tries: Promise<unknown>[] = [];
    if (this.chat.connected) tries.push(this.#call("refreshToken", { token }));
    if (this.presence.connected) tries.push(this.#presenceCall("refreshToken", { token }));
    await Promise.allSettled(tries);
    this.#scheduleRefresh(token);
  }

  #setSelf(self: UserRef | null): void {
    if (self === null) return;
    this.#store.update((s) => (s.self?.id === self.id && s.self.name === self.name ? s : { ...s, self }));
  }

  #setConnection(patch: Partial<ParleyState["connection"]>): void {
    this.#store.update((s) => {
      const c = s.connection;
      if ((Object.keys(patch) as (keyof typeof patch)[]).every((k) => Object.is(c[k], patch[k]))) return s;
      return { ...s, connection: { ...c, ...patch } };
    });
  }

  #transport(): Transport | null {
    const name = this.manager.engine?.transport?.name;
    return name === "polling" || name === "websocket" ? name : null;
  }

  #wire(): void {
    const { chat, manager } = this;
    manager.on("open", () => {
      manager.engine.on("upgrade", () => {
        if (chat.connected) this.#setConnection({ transport: this.#transport() });
      });
    });
    chat.on("connect", () => this.#connected());
    chat.on("disconnect", () => {
      this.#typing.reset();
      if (this.#closed) return;
      this.#setConnection({ status: chat.active ? "reconnecting" : "disconnected", transport: null });
    });
    chat.on("connect_error", (err: Error & { data?: unknown }) => {
      if (this.#closed) return;
      const data = err.data as { code?: unknown; message?: unknown } | undefined;
      const code = (typeof data?.code === "string" ? data.code : "unavailable") as ParleyErrorCode;
      const message = typeof data?.message === "string" ? data.message : err.message;
      // Not active: the server refused the namespace; socket.io-client will not retry.
      this.#setConnection({ status: chat.active ? "reconnecting" : "disconnected", error: { code, message } });
      if (!chat.active) this.#failAll(new ParleyError(code, message));
    });
    chat.on("newChatMessage", (msg) => {
      const syncing = this.#syncing.get(msg.room);
      if (syncing !== undefined) syncing.buffer.push(msg);
      else this.#store.update((s) => updateRoom(s, msg.room, (r) => addMessage(r, msg)));
    });
    chat.on("userJoined", ({ room, user }) => {
      this.#store.update((s) => updateRoom(s, room, (r) => addMember(r, user)));
      if (this.#autoWatch && !this.#watched.userIds.has(user.id)) void this.watch({ userIds: [user.id] }).catch(ignore);
    });
    chat.on("userLeft", ({ room, user }) =>
      this.#store.update((s) => updateRoom(s, room, (r) => removeMember(r, user.id))),
    );
    chat.on("typing", ({ room, user, isTyping }) => {
      if (user.id === this.#store.getState().self?.id) return; // another tab of this user
      this.#store.update((s) => updateRoom(s, room, (r) => setTyping(r, user, isTyping)));
    });
  }

  #connected(): void {
    const epoch = ++this.#epoch;
    const recovered = this.chat.recovered === true;
    this.#setConnection({ status: "connected", transport: this.#transport(), recovered, error: null });
    const rooms = Object.values(this.#store.getState().rooms);
    // Recovered: the server kept the rooms and replayed what was missed; only
    // rooms asked for while offline need joining. Otherwise every room is
    // joined anew and caught up.
    const todo = recovered ? rooms.filter((r) => r.status === "joining") : rooms;
    if (!recovered) {
      this.#store.update((s) => {
        const next: Record<string, RoomState> = {};
        for (const r of Object.values(s.rooms)) next[r.name] = { ...r, status: "joining", typing: [] };
        return { ...s, rooms: next };
      });
    }
    for (const r of todo) void this.#sync(r.name, epoch);
    void this.#flush();
  }

  /**
   * Joins `room` on the current connection and brings its messages up to
   * date without a gap: messages after the newest one held are fetched page
   * by page; when there are too many, the room restarts from the latest
   * history. Live messages arriving meanwhile are held back and merged last.
   */
  async #sync(room: string, epoch: number, attempt = 0): Promise<void> {
    if (this.#syncing.get(room)?.epoch === epoch) return;
    const entry = { epoch, buffer: [] as ChatMessage[] };
    this.#syncing.set(room, entry);
    try {
      const joined = await this.#call("joinRoom", { room });
      if (epoch !== this.#epoch) return; // the next connection syncs again
      const last = this.#store.getState().rooms[room]?.messages.at(-1);
      const caughtUp = last === undefined ? [] : await this.#catchUp(room, last.id);
      if (epoch !== this.#epoch) return;
      this.#store.update((s) =>
        updateRoom(s, room, (r) => {
          // caughtUp undefined: too much was missed; start over from the latest history.
          const held = caughtUp === undefined ? [] : mergeMessages(r.messages, caughtUp);
          const messages = mergeMessages(mergeMessages(held, joined.history), entry.buffer);
          const hasOlder = held.length === 0 ? joined.history.length >= JOIN_HISTORY : r.hasOlder;
          // A message of ours whose ack was lost may come back in the history.
          const confirmed = new Set(messages.map((m) => m.clientMsgId).filter((id) => id !== undefined));
          // (Its resend is then answered with the stored original.)
          const pending = r.pending.some((p) => confirmed.has(p.clientMsgId))
            ? r.pending.filter((p) => !confirmed.has(p.clientMsgId))
            : r.pending;
          return { ...setMembers(r, joined.members), status: "joined", messages, hasOlder, pending, typing: [] };
        }),
      );
      const state = this.#store.getState().rooms[room];
      if (state !== undefined) {
        if (this.#autoWatch) void this.watch({ rooms: [room], userIds: joined.members.map((u) => u.id) }).catch(ignore);
        this.#settle(room, (w) => w.resolve(state));
      }
    } catch (e) {
      const err = toParleyError(e);
      if (epoch !== this.#epoch || err.code === "disconnected" || err.code === "closed") return; // the next connection syncs again
      if (isRetriable(err.code) && attempt + 1 < SEND_MAX_ATTEMPTS) {
        setTimeout(
          () => {
            if (this.#syncing.get(room) === undefined && this.#store.getState().rooms[room]?.status === "joining") {
              void this.#sync(room, epoch, attempt + 1);
            }
          },
          backoff(attempt + 1),
        );
        return;
      }
      // The server refused the room itself (forbidden, bad name) or keeps failing: drop it.
      this.#dropRoom(room, err);
    } finally {
      if (this.#syncing.get(room) === entry) this.#syncing.delete(room);
      void this.#flush();
    }
  }

  /** Fetches every message after `afterId`, or undefined when there are too many or the cursor is gone. */
  async #catchUp(room: string, afterId: string): Promise<ChatMessage[] | undefined> {
    const out: ChatMessage[] = [];
    let cursor = afterId;
    for (let i = 0; i < RESYNC_MAX_PAGES; i++) {
      let page: FetchHistoryResult;
      try {
        page = await this.#call("fetchHistory", { room, after: cursor, limit: RESYNC_PAGE });
      } catch (e) {
        if (toParleyError(e).code === "not_found") return undefined; // the history was reset
        throw e;
      }
      out.push(...page.messages);
      const next = page.messages.at(-1);
      if (!page.hasMore || next === undefined) return out;
      cursor = next.id;
    }
    return undefined;
  }

  #settle(room: string, f: (w: Waiter) => void): void {
    const ws = this.#waiters.get(room);
    this.#waiters.delete(room);
    ws?.forEach(f);
  }

  #dropRoom(room: string, err: ParleyError): void {
    this.#store.update((s) => removeRoom(s, room));
    this.#settle(room, (w) => w.reject(err));
    for (const item of this.#outbox.filter((i) => i.room === room)) {
      this.#outbox.splice(this.#outbox.indexOf(item), 1);
      item.reject(err);
    }
  }

  #failAll(err: ParleyError): void {
    for (const room of [...this.#waiters.keys()]) this.#settle(room, (w) => w.reject(err));
    for (const item of this.#outbox.splice(0)) {
      this.#store.update((s) =>
        updateRoom(s, item.room, (r) => setPending(r, { ...pendingOf(item), status: "failed", error: errInfo(err) })),
      );
      item.reject(err);
    }
  }

  /** Emits a /chat ack event and unwraps its Result; rejects with a ParleyError. */
  #call<E extends AckEvent>(ev: E, req: Req<E>): Promise<Res<E>> {
    return unwrap(this.chat, this.#closed, this.#ackTimeoutMs, ev, req);
  }

  #wirePresence(): void {
    const p = this.presence;
    p.on("connect", () => {
      // Watches live on the server socket: renew them (the snapshots also
      // refresh what was missed while offline). Rooms go one by one, so one
      // that is not joined again yet (its sync watches it once it is) does
      // not fail the others.
      const { rooms, userIds } = this.#watched;
      void this.#subscribe({ userIds: [...userIds] }).catch(ignore);
      for (const room of rooms) void this.#subscribe({ rooms: [room] }).catch(ignore);
    });
    p.on("userConnected", (userId) => {
      const self = this.#store.getState().self;
      if (self?.id !== userId) this.#setSelf({ id: userId, name: self?.name ?? userId });
    });
    p.on("status", (st) => {
      this.#statusTick.set(st.userId, ++this.#ticks);
      this.#store.update((s) => setPresence(s, [st]));
    });
  }

  /** Subscribes in requests of at most MAX_WATCH_ITEMS rooms and user ids. */
  async #subscribe(req: WatchRequest): Promise<void> {
    const sent = this.#ticks;
    for (const part of chunks(req)) {
      const snap = await this.#presenceCall("subscribe", part);
      // A status event that arrived while subscribe was pending is newer than the snapshot.
      this.#store.update((s) => setPresence(s, snap.users, (id) => (this.#statusTick.get(id) ?? 0) > sent));
    }
  }

  async watch(req: WatchRequest): Promise<void> {
    for (const r of req.rooms ?? []) this.#watched.rooms.add(r);
    for (const u of req.userIds ?? []) this.#watched.userIds.add(u);
    if (!this.presence.connected) return; // subscribed on connect
    await this.#subscribe(req);
  }

  async unwatch(req: WatchRequest): Promise<void> {
    for (const r of req.rooms ?? []) this.#watched.rooms.delete(r);
    for (const u of req.userIds ?? []) this.#watched.userIds.delete(u);
    if (!this.presence.connected) return;
    for (const part of chunks(req)) await this.#presenceCall("unsubscribe", part);
  }

  setStatus(status: UserStatus): Promise<PresenceState> {
    return this.#presenceCall("setStatus", { status }).then((st) => {
      this.#store.update((s) => setPresence(s, [st]));
      return st;
    });
  }

  async #presenceCall<E extends PresenceAckEvent>(ev: E, req: PReq<E>): Promise<PRes<E>> {
    return unwrap(this.presence, this.#closed, this.#ackTimeoutMs, ev, req);
  }

  join(room: string): Promise<RoomState> {
    if (this.#closed) return Promise.reject(new ParleyError("closed", "the client is closed"));
    const existing = this.#store.getState().rooms[room];
    if (existing?.status === "joined") return Promise.resolve(existing);
    const p = new Promise<RoomState>((resolve, reject) => {
      const ws = this.#waiters.get(room) ?? [];
      ws.push({ resolve, reject });
      this.#waiters.set(room, ws);
    });
    if (existing === undefined) {
      this.#store.update((s) => ({ ...s, rooms: { ...s.rooms, [room]: newRoom(room) } }));
    }
    if (this.chat.connected && !this.#syncing.has(room)) void this.#sync(room, this.#epoch);
    return p;
  }

  async leave(room: string): Promise<void> {
    if (!(room in this.#store.getState().rooms)) return;
    this.#typing.forget(room);
    this.#dropRoom(room, new ParleyError("closed", `left room ${room}`));
    this.#syncing.delete(room);
    if (!this.chat.connected) return; // the next connection does not re-join it
    try {
      await this.#call("leaveRoom", { room });
    } catch (e) {
      const err = toParleyError(e);
      // not_found: the server had not joined it (yet); disconnected: nothing to leave.
      if (err.code !== "not_found" && err.code !== "disconnected") throw err;
    }
  }

  send(room: string, content: string): Promise<ChatMessage> {
    if (this.#closed) return Promise.reject(new ParleyError("closed", "the client is closed"));
    if (!(room in this.#store.getState().rooms)) {
      return Promise.reject(new ParleyError("forbidden", `join room ${room} before sending to it`));
    }
    const text = content.trim();
    if (text === "") return Promise.reject(new ParleyError("bad_request", "the message is empty"));
    if ([...text].length > MAX_CONTENT_CHARS) {
      return Promise.reject(new ParleyError("too_large", `a message holds at most ${MAX_CONTENT_CHARS} characters`));
    }
    this.#typing.stop(room);
    return new Promise<ChatMessage>((resolve, reject) => {
      const item: OutboxItem = {
        clientMsgId: newClientMsgId(),
        room,
        content: text,
        attempts: 0,
        notBefore: 0,
        resolve,
        reject,
      };
      this.#outbox.push(item);
      this.#store.update((s) => updateRoom(s, room, (r) => setPending(r, pendingOf(item))));
      void this.#flush();
    });
  }

  /**
   * Sends the outbox, one message at a time so each room's messages are
   * stored in the order they were sent. Only the oldest message of a room
   * may go, and only once the room is joined on this connection.
   */
  async #flush(): Promise<void> {
    if (this.#flushing) return;
    this.#flushing = true;
    try {
      for (;;) {
        if (this.#closed || !this.chat.connected) return;
        const item = this.#nextToSend();
        if (item === undefined) return;
        this.#markPending(item, "sending");
        try {
          const msg = await this.#call("chatMessage", {
            room: item.room,
            content: item.content,
            clientMsgId: item.clientMsgId,
          });
          this.#outbox.splice(this.#outbox.indexOf(item), 1);
          this.#store.update((s) => updateRoom(s, item.room, (r) => addMessage(dropPending(r, item.clientMsgId), msg)));
          item.resolve(msg);
        } catch (e) {
          const err = toParleyError(e);
          if (!this.#outbox.includes(item)) continue; // left the room or closed meanwhile
          const connectionLost = err.code === "disconnected" || err.code === "timeout";
          if (isRetriable(err.code) && (connectionLost || ++item.attempts < SEND_MAX_ATTEMPTS)) {
            if (err.code !== "disconnected") item.notBefore = Date.now() + backoff(item.attempts);
            this.#markPending(item, "queued");
            continue;
          }
          this.#outbox.splice(this.#outbox.indexOf(item), 1);
          this.#markPending(item, "failed", err);
          item.reject(err);
        }
      }
    } finally {
      this.#flushing = false;
    }
  }

  #nextToSend(): OutboxItem | undefined {
    const rooms = this.#store.getState().rooms;
    const seen = new Set<string>();
    let wait = Infinity;
    const now = Date.now();
    for (const item of this.#outbox) {
      if (seen.has(item.room)) continue;
      seen.add(item.room);
      if (rooms[item.room]?.status !== "joined" || this.#syncing.has(item.room)) continue;
      if (item.notBefore <= now) return item;
      wait = Math.min(wait, item.notBefore - now);
    }
    if (wait !== Infinity && this.#retryTimer === undefined) {
      this.#retryTimer = setTimeout(() => {
        this.#retryTimer = undefined;
        void this.#flush();
      }, wait);
    }
    return undefined;
  }

  #markPending(item: OutboxItem, status: PendingMessage["status"], err?: ParleyError): void {
    const p: PendingMessage = { ...pendingOf(item), status, ...(err ? { error: errInfo(err) } : {}) };
    this.#store.update((s) => updateRoom(s, item.room, (r) => setPending(r, p)));
  }

  dismiss(room: string, clientMsgId: string): void {
    if (this.#outbox.some((i) => i.clientMsgId === clientMsgId)) return; // still being sent
    this.#store.update((s) => updateRoom(s, room, (r) => dropPending(r, clientMsgId)));
  }

  async history(room: string, query: HistoryQuery = {}): Promise<FetchHistoryResult> {
    const req = { room, ...query };
    const page = await this.#call("fetchHistory", req);
    const cursor = {
      ...(query.before !== undefined && { before: query.before }),
      ...(query.after !== undefined && { after: query.after }),
    };
    if (!this.#syncing.has(room)) this.#store.update((s) => updateRoom(s, room, (r) => applyPage(r, cursor, page)));
    return page;
  }

  typing(room: string): void {
    if (this.#store.getState().rooms[room]?.status === "joined") this.#typing.keystroke(room);
  }

  stopTyping(room: string): void {
    this.#typing.stop(room);
  }

  close(): void {
    if (this.#closed) return;
    this.#typing.reset();
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    clearTimeout(this.#refreshTimer);
    this.chat.disconnect();
    this.presence.disconnect();
    this.#failAll(new ParleyError("closed", "the client is closed"));
    this.#setConnection({ status: "closed", transport: null });
  }
}

/** Emits an ack event on `socket` and unwraps its Result; rejects with a ParleyError. */
async function unwrap<T>(socket: Socket, closed: boolean, timeoutMs: number, ev: string, req: unknown): Promise<T> {
  if (closed) throw new ParleyError("closed", "the client is closed");
  if (!socket.connected) throw new ParleyError("disconnected", "not connected");
  let res: Result<T>;
  try {
    // The callers' AckEvents/ReqOf/ResOf mappings type the event, payload and
    // result; socket.io-client's own emitWithAck typing cannot take a generic
    // event name.
    res = (await socket.timeout(timeoutMs).emitWithAck(ev, req)) as Result<T>;
  } catch (e) {
    throw toParleyError(e);
  }
  if (!res.ok) throw new ParleyError(res.error.code, res.error.message);
  return res.data;
}

function ignore(): void {}

/** Splits a watch request into requests the server accepts; none when it is empty. */
function chunks(req: WatchRequest): WatchRequest[] {
  const rooms = req.rooms ?? [];
  const userIds = req.userIds ?? [];
  const out: WatchRequest[] = [];
  for (let i = 0; i < Math.max(rooms.length, userIds.length); i += MAX_WATCH_ITEMS) {
    const r = rooms.slice(i, i + MAX_WATCH_ITEMS);
    const u = userIds.slice(i, i + MAX_WATCH_ITEMS);
    out.push({ ...(r.length > 0 && { rooms: r }), ...(u.length > 0 && { userIds: u }) });
  }
  return out;
}

function pendingOf(item: OutboxItem): PendingMessage {
  return { clientMsgId: item.clientMsgId, room: item.room, content: item.content, status: "queued" };
}

function errInfo(err: ParleyError): { code: ParleyErrorCode; message: string } {
  return { code: err.code, message: err.message };
}

function backoff(attempt: number): number {
  const ms = Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** Math.max(0, attempt - 1));
  return ms / 2 + Math.random() * (ms / 2);
}

/** Maps what an emit rejected with to a ParleyError. */
export function toParleyError(e: unknown): ParleyError {
  if (e instanceof ParleyError) return e;
  const message = e instanceof Error ? e.message : String(e);
  // socket.io-client's two ack failures.
  if (message === "operation has timed out") return new ParleyError("timeout", "the server did not answer in time");
  if (message === "socket has been disconnected") return new ParleyError("disconnected", "the connection dropped");
  return new ParleyError("internal", message);
}

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
function claimsOf(token: string): { sub?: unknown; name?: unknown; exp?: unknown } | null {
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
