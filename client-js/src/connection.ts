// The connection: one socket.io-client Manager with the /chat and /presence
// sockets on it, the handshake auth and the token refresh, the connection
// part of the store, and the typed ack calls the chat and presence parts
// make. It knows nothing of rooms or presence.

import { Manager, type Socket } from "socket.io-client";
import type {
  ChatClientToServerEvents,
  ChatServerToClientEvents,
  PresenceClientToServerEvents,
  PresenceServerToClientEvents,
  Result,
  UserRef,
} from "./generated/events.js";
import type { ParleyClientOptions } from "./client.js";
import { ParleyError, type ParleyErrorCode } from "./errors.js";
import { initialState, type ParleyState, type Transport } from "./state.js";
import { createStore, type WritableStore } from "./store.js";
import { claimsOf, refreshDelayMs, userFromToken } from "./token.js";

/** The typed /chat socket. */
export type ChatSocket = Socket<ChatServerToClientEvents, ChatClientToServerEvents>;
/** The typed /presence socket. */
export type PresenceSocket = Socket<PresenceServerToClientEvents, PresenceClientToServerEvents>;

type Args<M, E extends keyof M> = M[E] extends (...args: infer A) => void ? A : never;
/** The events of a client-to-server map that take an ack. */
type AckEvents<M> = {
  [E in keyof M]: Args<M, E> extends [unknown, (res: Result<never>) => void] ? E : never;
}[keyof M];
/** The payload of event E. */
type ReqOf<M, E extends keyof M> = Args<M, E>[0];
/** The data of a successful ack of event E. */
type ResOf<M, E extends keyof M> = Args<M, E> extends [unknown, (res: Result<infer T>) => void] ? T : never;

/** The /chat events that take an ack. */
export type ChatAckEvent = AckEvents<ChatClientToServerEvents>;
type ChatReq<E extends ChatAckEvent> = ReqOf<ChatClientToServerEvents, E>;
type ChatRes<E extends ChatAckEvent> = ResOf<ChatClientToServerEvents, E>;
/** The /presence events that take an ack. */
export type PresenceAckEvent = AckEvents<PresenceClientToServerEvents>;
type PresenceReq<E extends PresenceAckEvent> = ReqOf<PresenceClientToServerEvents, E>;
type PresenceRes<E extends PresenceAckEvent> = ResOf<PresenceClientToServerEvents, E>;

/** What the connection tells the chat part about the /chat socket. */
export interface ChatHooks {
  /** The /chat socket connected (first time or again), after the store says so. */
  connected(): void;
  /** The /chat socket disconnected. */
  disconnected(): void;
  /** The server refused /chat for good (no retry follows), after the store says so. */
  refused(err: ParleyError): void;
}

/**
 * Connection owns the Manager and both sockets. The chat and presence parts
 * listen on the sockets themselves; the connection reports /chat's
 * lifecycle, which drives the state's `connection`, through ChatHooks.
 */
export class Connection {
  readonly manager: Manager;
  readonly chat: ChatSocket;
  readonly presence: PresenceSocket;
  readonly store: WritableStore<ParleyState> = createStore<ParleyState>(initialState(null));
  readonly #ackTimeoutMs: number;
  readonly #tokenFn: (() => string | Promise<string>) | undefined;
  #refreshTimer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;

  constructor(opts: ParleyClientOptions, hooks: ChatHooks) {
    if ((opts.token === undefined) === (opts.identity === undefined)) {
      throw new TypeError("createParleyClient: pass exactly one of token and identity");
    }
    this.#ackTimeoutMs = opts.ackTimeoutMs ?? 10_000;
    this.#tokenFn = typeof opts.token === "function" ? opts.token : undefined;
    if (opts.identity !== undefined) {
      this.setSelf({ id: opts.identity.userId, name: opts.identity.name });
    } else if (typeof opts.token === "string") {
      this.setSelf(userFromToken(opts.token));
    }
    this.manager = new Manager(opts.url, {
      transports: [...(opts.transports ?? ["polling", "websocket"])],
      ...opts.manager,
      autoConnect: false,
    });
    const auth = this.#auth(opts);
    this.chat = this.manager.socket("/chat", { auth });
    this.presence = this.manager.socket("/presence", { auth });
    this.#wire(hooks);
  }

  /** Whether close was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Starts connecting both sockets; call once every part listens. */
  connect(): void {
    this.chat.connect();
    this.presence.connect();
  }

  /** Disconnects both sockets for good. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#refreshTimer);
    this.chat.disconnect();
    this.presence.disconnect();
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
            this.setSelf(userFromToken(t));
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
    if (this.chat.connected) tries.push(this.call("refreshToken", { token }));
    if (this.presence.connected) tries.push(this.presenceCall("refreshToken", { token }));
    await Promise.allSettled(tries);
    this.#scheduleRefresh(token);
  }

  /** Records who this client is, unless the store already says so. */
  setSelf(self: UserRef | null): void {
    if (self === null) return;
    this.store.update((s) => (s.self?.id === self.id && s.self.name === self.name ? s : { ...s, self }));
  }

  /** Patches the store's connection state; an unchanged one is left alone. */
  setConnection(patch: Partial<ParleyState["connection"]>): void {
    this.store.update((s) => {
      const c = s.connection;
      if ((Object.keys(patch) as (keyof typeof patch)[]).every((k) => Object.is(c[k], patch[k]))) return s;
      return { ...s, connection: { ...c, ...patch } };
    });
  }

  #transport(): Transport | null {
    const name = this.manager.engine?.transport?.name;
    return name === "polling" || name === "websocket" ? name : null;
  }

  #wire(hooks: ChatHooks): void {
    const { chat, manager } = this;
    manager.on("open", () => {
      manager.engine.on("upgrade", () => {
        if (chat.connected) this.setConnection({ transport: this.#transport() });
      });
    });
    chat.on("connect", () => {
      const recovered = chat.recovered === true;
      this.setConnection({ status: "connected", transport: this.#transport(), recovered, error: null });
      hooks.connected();
    });
    chat.on("disconnect", () => {
      hooks.disconnected();
      if (this.#closed) return;
      this.setConnection({ status: chat.active ? "reconnecting" : "disconnected", transport: null });
    });
    chat.on("connect_error", (err: Error & { data?: unknown }) => {
      if (this.#closed) return;
      const data = err.data as { code?: unknown; message?: unknown } | undefined;
      const code = (typeof data?.code === "string" ? data.code : "unavailable") as ParleyErrorCode;
      const message = typeof data?.message === "string" ? data.message : err.message;
      // Not active: the server refused the namespace; socket.io-client will not retry.
      this.setConnection({ status: chat.active ? "reconnecting" : "disconnected", error: { code, message } });
      if (!chat.active) hooks.refused(new ParleyError(code, message));
    });
  }

  /** Emits a /chat ack event and unwraps its Result; rejects with a ParleyError. */
  call<E extends ChatAckEvent>(ev: E, req: ChatReq<E>): Promise<ChatRes<E>> {
    return unwrap(this.chat, this.#closed, this.#ackTimeoutMs, ev, req);
  }

  /** Emits a /presence ack event and unwraps its Result; rejects with a ParleyError. */
  presenceCall<E extends PresenceAckEvent>(ev: E, req: PresenceReq<E>): Promise<PresenceRes<E>> {
    return this.#presenceReady().then(() => unwrap(this.presence, this.#closed, this.#ackTimeoutMs, ev, req));
  }

  /**
   * Resolves once the /presence socket is connected, or at once when it is
   * connected, closed for good or the client is closed (unwrap then gives
   * the typed error). /presence connects just after /chat on the same
   * connection, so a call made as soon as the client reports "connected"
   * waits for it, within the ack timeout, instead of failing.
   */
  #presenceReady(): Promise<void> {
    const socket = this.presence;
    if (this.#closed || socket.connected || !socket.active) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        socket.off("connect", done);
        socket.off("connect_error", refused);
        resolve();
      };
      const refused = () => {
        if (!socket.active) done();
      };
      const timer = setTimeout(done, this.#ackTimeoutMs);
      socket.on("connect", done);
      socket.on("connect_error", refused);
    });
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

/** Maps what an emit rejected with to a ParleyError. */
export function toParleyError(e: unknown): ParleyError {
  if (e instanceof ParleyError) return e;
  const message = e instanceof Error ? e.message : String(e);
  // socket.io-client's two ack failures.
  if (message === "operation has timed out") return new ParleyError("timeout", "the server did not answer in time");
  if (message === "socket has been disconnected") return new ParleyError("disconnected", "the connection dropped");
  return new ParleyError("internal", message);
}
