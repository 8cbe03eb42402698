// The chat part of the client: rooms joined and re-joined without gaps after
// a reconnection, the outbox that sends each message once and in order, the
// history pages and the typing indicator.

import {
  DEFAULT_HISTORY_LIMIT,
  MAX_CONTENT_CHARS,
  MAX_HISTORY_LIMIT,
  type ChatMessage,
  type FetchHistoryResult,
} from "./generated/events.js";
import type { HistoryQuery } from "./client.js";
import { toParleyError, type Connection } from "./connection.js";
import { isRetriable, ParleyError, type ParleyErrorCode } from "./errors.js";
import { newClientMsgId } from "./ids.js";
import { ignore, type Presence } from "./presence.js";
import {
  addMember,
  addMessage,
  applyPage,
  dropPending,
  mergeMessages,
  newRoom,
  removeMember,
  removeRoom,
  setMembers,
  setPending,
  setTyping,
  updateRoom,
  type PendingMessage,
  type RoomState,
} from "./state.js";
import { TypingThrottle, type TypingOptions } from "./typing.js";

/** The size of the history a join returns. */
const JOIN_HISTORY = DEFAULT_HISTORY_LIMIT;
/** Page size and page budget when catching up after a reconnection. */
const RESYNC_PAGE = MAX_HISTORY_LIMIT;
const RESYNC_MAX_PAGES = 10;
/** Retries of a send that the server refused with a retriable code (not counting connection loss). */
const SEND_MAX_ATTEMPTS = 6;
const RETRY_BASE_MS = 250;
const RETRY_MAX_MS = 5000;

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

export interface ChatOptions {
  /** Watch the presence of each joined room and everyone seen in one. */
  autoWatch: boolean;
  typing: TypingOptions | undefined;
}

export class Chat {
  readonly #conn: Connection;
  readonly #presence: Presence;
  readonly #autoWatch: boolean;
  readonly #typing: TypingThrottle;
  /** Incremented on each connect: work started for an older connection stops. */
  #epoch = 0;
  /** Rooms being re-joined, with the live messages that arrived meanwhile. */
  readonly #syncing = new Map<string, { epoch: number; buffer: ChatMessage[] }>();
  readonly #waiters = new Map<string, Waiter[]>();
  readonly #outbox: OutboxItem[] = [];
  #flushing = false;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(conn: Connection, presence: Presence, opts: ChatOptions) {
    this.#conn = conn;
    this.#presence = presence;
    this.#autoWatch = opts.autoWatch;
    const chat = conn.chat;
    this.#typing = new TypingThrottle((room, isTyping) => {
      if (chat.connected) chat.emit("typing", { room, isTyping });
    }, opts.typing);
    const store = conn.store;
    chat.on("newChatMessage", (msg) => {
      const syncing = this.#syncing.get(msg.room);
      if (syncing !== undefined) syncing.buffer.push(msg);
      else store.update((s) => updateRoom(s, msg.room, (r) => addMessage(r, msg)));
    });
    chat.on("userJoined", ({ room, user }) => {
      store.update((s) => updateRoom(s, room, (r) => addMember(r, user)));
      if (this.#autoWatch && !presence.watches(user.id)) void presence.watch({ userIds: [user.id] }).catch(ignore);
    });
    chat.on("userLeft", ({ room, user }) => store.update((s) => updateRoom(s, room, (r) => removeMember(r, user.id))));
    chat.on("typing", ({ room, user, isTyping }) => {
      if (user.id === store.getState().self?.id) return; // another tab of this user
      store.update((s) => updateRoom(s, room, (r) => setTyping(r, user, isTyping)));
    });
  }

  /** The /chat socket connected: re-join and catch up, then send the outbox. */
  connected(): void {
    const epoch = ++this.#epoch;
    const recovered = this.#conn.chat.recovered === true;
    const rooms = Object.values(this.#conn.store.getState().rooms);
    // Recovered: the server kept the rooms and replayed what was missed; only
    // rooms asked for while offline need joining. Otherwise every room is
    // joined anew and caught up.
    const todo = recovered ? rooms.filter((r) => r.status === "joining") : rooms;
    if (!recovered) {
      this.#conn.store.update((s) => {
        const next: Record<string, RoomState> = {};
        for (const r of Object.values(s.rooms)) next[r.name] = { ...r, status: "joining", typing: [] };
        return { ...s, rooms: next };
      });
    }
    for (const r of todo) void this.#sync(r.name, epoch);
    void this.#flush();
  }

  /** The /chat socket disconnected. */
  disconnected(): void {
    this.#typing.reset();
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
    const store = this.#conn.store;
    try {
      const joined = await this.#conn.call("joinRoom", { room });
      if (epoch !== this.#epoch) return; // the next connection syncs again
      const last = store.getState().rooms[room]?.messages.at(-1);
      const caughtUp = last === undefined ? [] : await this.#catchUp(room, last.id);
      if (epoch !== this.#epoch) return;
      store.update((s) =>
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
      const state = store.getState().rooms[room];
      if (state !== undefined) {
        if (this.#autoWatch) {
          void this.#presence.watch({ rooms: [room], userIds: joined.members.map((u) => u.id) }).catch(ignore);
        }
        this.#settle(room, (w) => w.resolve(state));
      }
    } catch (e) {
      const err = toParleyError(e);
      if (epoch !== this.#epoch || err.code === "disconnected" || err.code === "closed") return; // the next connection syncs again
      if (isRetriable(err.code) && attempt + 1 < SEND_MAX_ATTEMPTS) {
        setTimeout(
          () => {
            if (this.#syncing.get(room) === undefined && store.getState().rooms[room]?.status === "joining") {
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
        page = await this.#conn.call("fetchHistory", { room, after: cursor, limit: RESYNC_PAGE });
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
    this.#conn.store.update((s) => removeRoom(s, room));
    this.#settle(room, (w) => w.reject(err));
    for (const item of this.#outbox.filter((i) => i.room === room)) {
      this.#outbox.splice(this.#outbox.indexOf(item), 1);
      item.reject(err);
    }
  }

  /** Fails every join and send in progress with err (the client closed, or the server refused /chat). */
  failAll(err: ParleyError): void {
    for (const room of [...this.#waiters.keys()]) this.#settle(room, (w) => w.reject(err));
    for (const item of this.#outbox.splice(0)) {
      this.#conn.store.update((s) =>
        updateRoom(s, item.room, (r) => setPending(r, { ...pendingOf(item), status: "failed", error: errInfo(err) })),
      );
      item.reject(err);
    }
  }

  join(room: string): Promise<RoomState> {
    if (this.#conn.closed) return Promise.reject(new ParleyError("closed", "the client is closed"));
    const store = this.#conn.store;
    const existing = store.getState().rooms[room];
    if (existing?.status === "joined") return Promise.resolve(existing);
    const p = new Promise<RoomState>((resolve, reject) => {
      const ws = this.#waiters.get(room) ?? [];
      ws.push({ resolve, reject });
      this.#waiters.set(room, ws);
    });
    if (existing === undefined) {
      store.update((s) => ({ ...s, rooms: { ...s.rooms, [room]: newRoom(room) } }));
    }
    if (this.#conn.chat.connected && !this.#syncing.has(room)) void this.#sync(room, this.#epoch);
    return p;
  }

  async leave(room: string): Promise<void> {
    if (!(room in this.#conn.store.getState().rooms)) return;
    this.#typing.forget(room);
    this.#dropRoom(room, new ParleyError("closed", `left room ${room}`));
    this.#syncing.delete(room);
    if (!this.#conn.chat.connected) return; // the next connection does not re-join it
    try {
      await this.#conn.call("leaveRoom", { room });
    } catch (e) {
      const err = toParleyError(e);
      // not_found: the server had not joined it (yet); disconnected: nothing to leave.
      if (err.code !== "not_found" && err.code !== "disconnected") throw err;
    }
  }

  send(room: string, content: string): Promise<ChatMessage> {
    if (this.#conn.closed) return Promise.reject(new ParleyError("closed", "the client is closed"));
    if (!(room in this.#conn.store.getState().rooms)) {
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
      this.#conn.store.update((s) => updateRoom(s, room, (r) => setPending(r, pendingOf(item))));
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
        if (this.#conn.closed || !this.#conn.chat.connected) return;
        const item = this.#nextToSend();
        if (item === undefined) return;
        this.#markPending(item, "sending");
        try {
          const msg = await this.#conn.call("chatMessage", {
            room: item.room,
            content: item.content,
            clientMsgId: item.clientMsgId,
          });
          this.#outbox.splice(this.#outbox.indexOf(item), 1);
          this.#conn.store.update((s) =>
            updateRoom(s, item.room, (r) => addMessage(dropPending(r, item.clientMsgId), msg)),
          );
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
    const rooms = this.#conn.store.getState().rooms;
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
    this.#conn.store.update((s) => updateRoom(s, item.room, (r) => setPending(r, p)));
  }

  dismiss(room: string, clientMsgId: string): void {
    if (this.#outbox.some((i) => i.clientMsgId === clientMsgId)) return; // still being sent
    this.#conn.store.update((s) => updateRoom(s, room, (r) => dropPending(r, clientMsgId)));
  }

  async history(room: string, query: HistoryQuery = {}): Promise<FetchHistoryResult> {
    const req = { room, ...query };
    const page = await this.#conn.call("fetchHistory", req);
    const cursor = {
      ...(query.before !== undefined && { before: query.before }),
      ...(query.after !== undefined && { after: query.after }),
    };
    if (!this.#syncing.has(room))
      this.#conn.store.update((s) => updateRoom(s, room, (r) => applyPage(r, cursor, page)));
    return page;
  }

  typing(room: string): void {
    if (this.#conn.store.getState().rooms[room]?.status === "joined") this.#typing.keystroke(room);
  }

  stopTyping(room: string): void {
    this.#typing.stop(room);
  }

  /** Stops typing and the send retries; call before the connection closes. */
  close(): void {
    this.#typing.reset();
    clearTimeout(this.#retryTimer);
  }
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
