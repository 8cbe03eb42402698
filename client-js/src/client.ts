// @parley/client's entry point: createParleyClient and the ParleyClient it
// returns, put together from three parts that each own one concern:
//
//   connection.ts  the Manager, both sockets, auth and token refresh, the
//                  connection state, typed ack calls
//   chat.ts        rooms, re-join and catch-up, the outbox, history, typing
//   presence.ts    watches, presence states, the user's status
//
// The parts talk through the store and a few calls: the connection reports
// /chat's lifecycle to the chat part (ChatHooks), and the chat part asks the
// presence part to watch the rooms it joins.

import type { Manager, ManagerOptions } from "socket.io-client";
import type {
  ChatMessage,
  DEFAULT_HISTORY_LIMIT,
  FetchHistoryResult,
  MAX_HISTORY_LIMIT,
  PresenceState,
  UserStatus,
  WatchRequest,
} from "./generated/events.js";
import { Chat } from "./chat.js";
import { Connection, type ChatSocket, type PresenceSocket } from "./connection.js";
import { ParleyError } from "./errors.js";
import { Presence } from "./presence.js";
import type { ParleyState, RoomState, Transport } from "./state.js";
import type { ReadableStore } from "./store.js";
import type { TypingOptions } from "./typing.js";

export type { ChatSocket, PresenceSocket };

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

/** Creates a client and starts connecting. */
export function createParleyClient(opts: ParleyClientOptions): ParleyClient {
  return new Client(opts);
}

class Client implements ParleyClient {
  readonly manager: Manager;
  readonly chat: ChatSocket;
  readonly presence: PresenceSocket;
  readonly store: ReadableStore<ParleyState>;
  readonly #conn: Connection;
  readonly #chat: Chat;
  readonly #presence: Presence;

  constructor(opts: ParleyClientOptions) {
    // The hooks run once connect() below has started, when #chat is set.
    this.#conn = new Connection(opts, {
      connected: () => this.#chat.connected(),
      disconnected: () => this.#chat.disconnected(),
      refused: (err) => this.#chat.failAll(err),
    });
    this.#presence = new Presence(this.#conn);
    this.#chat = new Chat(this.#conn, this.#presence, { autoWatch: opts.autoWatch ?? true, typing: opts.typing });
    const { manager, chat, presence, store } = this.#conn;
    this.manager = manager;
    this.chat = chat;
    this.presence = presence;
    this.store = { getState: store.getState, getInitialState: store.getInitialState, subscribe: store.subscribe };
    this.#conn.connect();
  }

  join(room: string): Promise<RoomState> {
    return this.#chat.join(room);
  }

  leave(room: string): Promise<void> {
    return this.#chat.leave(room);
  }

  send(room: string, content: string): Promise<ChatMessage> {
    return this.#chat.send(room, content);
  }

  dismiss(room: string, clientMsgId: string): void {
    this.#chat.dismiss(room, clientMsgId);
  }

  history(room: string, query?: HistoryQuery): Promise<FetchHistoryResult> {
    return this.#chat.history(room, query);
  }

  typing(room: string): void {
    this.#chat.typing(room);
  }

  stopTyping(room: string): void {
    this.#chat.stopTyping(room);
  }

  watch(req: WatchRequest): Promise<void> {
    return this.#presence.watch(req);
  }

  unwatch(req: WatchRequest): Promise<void> {
    return this.#presence.unwatch(req);
  }

  setStatus(status: UserStatus): Promise<PresenceState> {
    return this.#presence.setStatus(status);
  }

  close(): void {
    if (this.#conn.closed) return;
    this.#chat.close();
    this.#conn.close();
    this.#chat.failAll(new ParleyError("closed", "the client is closed"));
    this.#conn.setConnection({ status: "closed", transport: null });
  }
}
