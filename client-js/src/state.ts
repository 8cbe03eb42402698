// The client's state and the pure functions that change it. Nothing here
// talks to the network, so each rule (ordering, deduplication, the no-gap
// merge of history pages) is unit-tested on plain values.

import type { ChatMessage, PresenceState, UserRef } from "./generated/events.js";
import type { ParleyErrorCode } from "./errors.js";
import { compareIds } from "./ids.js";

/** Engine.IO transport names. */
export type Transport = "polling" | "websocket";

/**
 * - `connecting`: first connection attempt;
 * - `connected`: the /chat socket is connected (each room shows its own
 *   `joining` status while it is re-joined);
 * - `reconnecting`: the connection dropped and socket.io-client is retrying;
 * - `disconnected`: the server refused the connection (see `error`) or it
 *   was closed; no retry will happen;
 * - `closed`: `client.close()` was called.
 */
export type ConnectionStatus = "connecting" | "connected" | "reconnecting" | "disconnected" | "closed";

export interface ConnectionState {
  readonly status: ConnectionStatus;
  /** The transport in use while connected, else null. */
  readonly transport: Transport | null;
  /** Whether the last connect restored the session by connection state recovery. */
  readonly recovered: boolean;
  /** Why the connection was refused or lost, when it was. */
  readonly error: { readonly code: ParleyErrorCode; readonly message: string } | null;
}

/** A message `send` has not had confirmed yet. */
export interface PendingMessage {
  readonly clientMsgId: string;
  readonly room: string;
  readonly content: string;
  /**
   * `queued` waits for a connection (or a retry), `sending` awaits its ack,
   * `failed` was refused for good (see `error`) and will not be resent.
   */
  readonly status: "queued" | "sending" | "failed";
  readonly error?: { readonly code: ParleyErrorCode; readonly message: string };
}

export interface RoomState {
  readonly name: string;
  /** `joining` until the server acked joinRoom on the current connection. */
  readonly status: "joining" | "joined";
  /** Users in the room now, by id. */
  readonly members: readonly UserRef[];
  /**
   * Users seen in the room since it was joined, by id: the members and those
   * who left since (whose presence a UI may still show).
   */
  readonly seen: readonly UserRef[];
  /**
   * Confirmed messages, ordered by id, without duplicates and without gaps:
   * every message of the room between the first and the last one is here.
   */
  readonly messages: readonly ChatMessage[];
  /** Whether the server holds messages older than `messages[0]`. */
  readonly hasOlder: boolean;
  /** Messages sent from this client and not confirmed yet, in send order. */
  readonly pending: readonly PendingMessage[];
  /** Other users typing in the room now, in the order they started. */
  readonly typing: readonly UserRef[];
}

export interface ParleyState {
  /** The signed-in user, once the server told (see `connected`). */
  readonly self: UserRef | null;
  readonly connection: ConnectionState;
  /** Rooms joined or being joined, by name. */
  readonly rooms: Readonly<Record<string, RoomState>>;
  /** The presence of watched users, by user id. */
  readonly presence: Readonly<Record<string, PresenceState>>;
}

export function initialState(self: UserRef | null): ParleyState {
  return {
    self,
    connection: { status: "connecting", transport: null, recovered: false, error: null },
    rooms: {},
    presence: {},
  };
}

export function newRoom(name: string): RoomState {
  return { name, status: "joining", members: [], seen: [], messages: [], hasOlder: false, pending: [], typing: [] };
}

/**
 * Merges `incoming` into `list` (both ordered by id or not): the result is
 * ordered by id and holds each id once. It returns `list` itself when
 * nothing is new, so an unchanged room keeps its identity.
 */
export function mergeMessages(list: readonly ChatMessage[], incoming: readonly ChatMessage[]): readonly ChatMessage[] {
  if (incoming.length === 0) return list;
  const last = list.at(-1);
  // The common case: one new live message after the newest one.
  if (incoming.length === 1 && (last === undefined || compareIds(incoming[0]!.id, last.id) > 0)) {
    return [...list, incoming[0]!];
  }
  const have = new Set(list.map((m) => m.id));
  const fresh = incoming.filter((m) => !have.has(m.id) && (have.add(m.id), true));
  if (fresh.length === 0) return list;
  return [...list, ...fresh].sort((a, b) => compareIds(a.id, b.id));
}

/** Where a history page sits relative to what the room holds. */
export type PageCursor = { before?: string; after?: string };

/**
 * Applies a fetched history page to a room's messages so that they stay
 * gap-free:
 * - a page `before` the oldest message held (or any page when none is held)
 *   extends the list backwards, and sets `hasOlder`;
 * - a page `after` the newest message held extends it forwards;
 * - the latest page (no cursor) is merged when it reaches back to the newest
 *   message held, and replaces the list when it does not (what lay between
 *   is unknown);
 * - any other page would leave a gap, and is not stored.
 */
export function applyPage(
  room: RoomState,
  cursor: PageCursor,
  page: { messages: readonly ChatMessage[]; hasMore: boolean },
): RoomState {
  const first = room.messages[0];
  const last = room.messages.at(-1);
  const { before, after } = cursor;
  if (before !== undefined && after === undefined) {
    if (first !== undefined && before !== first.id) return room;
    return { ...room, messages: mergeMessages(room.messages, page.messages), hasOlder: page.hasMore };
  }
  if (after !== undefined && before === undefined) {
    if (last === undefined || after !== last.id) return room;
    return { ...room, messages: mergeMessages(room.messages, page.messages) };
  }
  if (before !== undefined || after !== undefined) return room; // a slice in between
  const oldest = page.messages[0];
  const reaches =
    last === undefined ||
    oldest === undefined ||
    !page.hasMore || // the page starts at the room's first message
    compareIds(oldest.id, last.id) <= 0;
  if (reaches) {
    const extendsBack = first === undefined || (oldest !== undefined && compareIds(oldest.id, first.id) < 0);
    return {
      ...room,
      messages: mergeMessages(room.messages, page.messages),
      hasOlder: extendsBack ? page.hasMore : room.hasOlder,
    };
  }
  return { ...room, messages: page.messages, hasOlder: true };
}

/** Replaces rooms[name] with f(rooms[name]); an absent room is left alone. */
export function updateRoom(state: ParleyState, name: string, f: (room: RoomState) => RoomState): ParleyState {
  const room = state.rooms[name];
  if (room === undefined) return state;
  const next = f(room);
  if (next === room) return state;
  return { ...state, rooms: { ...state.rooms, [name]: next } };
}

export function removeRoom(state: ParleyState, name: string): ParleyState {
  if (!(name in state.rooms)) return state;
  const rooms = { ...state.rooms };
  delete rooms[name];
  return { ...state, rooms };
}

/** Adds a confirmed message: it leaves `pending` and `typing`. */
export function addMessage(room: RoomState, msg: ChatMessage): RoomState {
  const messages = mergeMessages(room.messages, [msg]);
  const pending =
    msg.clientMsgId === undefined ? room.pending : room.pending.filter((p) => p.clientMsgId !== msg.clientMsgId);
  const typing = room.typing.some((u) => u.id === msg.sender.id)
    ? room.typing.filter((u) => u.id !== msg.sender.id)
    : room.typing;
  if (messages === room.messages && pending.length === room.pending.length && typing === room.typing) return room;
  return { ...room, messages, pending: pending.length === room.pending.length ? room.pending : pending, typing };
}

export function addMember(room: RoomState, user: UserRef): RoomState {
  const members = upsertUser(room.members, user);
  const seen = upsertUser(room.seen, user);
  if (members === room.members && seen === room.seen) return room;
  return { ...room, members, seen };
}

/** Replaces the members (a join's answer); they are added to `seen`. */
export function setMembers(room: RoomState, members: readonly UserRef[]): RoomState {
  let seen = room.seen;
  for (const u of members) seen = upsertUser(seen, u);
  return { ...room, members: [...members].sort((a, b) => compareIds(a.id, b.id)), seen };
}

function upsertUser(list: readonly UserRef[], user: UserRef): readonly UserRef[] {
  const i = list.findIndex((u) => u.id === user.id);
  if (i >= 0 && list[i]!.name === user.name) return list;
  const out = list.filter((u) => u.id !== user.id);
  out.push(user);
  return out.sort((a, b) => compareIds(a.id, b.id));
}

export function removeMember(room: RoomState, userId: string): RoomState {
  if (!room.members.some((u) => u.id === userId) && !room.typing.some((u) => u.id === userId)) return room;
  return {
    ...room,
    members: room.members.filter((u) => u.id !== userId),
    typing: room.typing.filter((u) => u.id !== userId),
  };
}

export function setTyping(room: RoomState, user: UserRef, isTyping: boolean): RoomState {
  const has = room.typing.some((u) => u.id === user.id);
  if (has === isTyping) return room;
  return { ...room, typing: isTyping ? [...room.typing, user] : room.typing.filter((u) => u.id !== user.id) };
}

export function setPending(room: RoomState, p: PendingMessage): RoomState {
  const i = room.pending.findIndex((x) => x.clientMsgId === p.clientMsgId);
  if (i < 0) return { ...room, pending: [...room.pending, p] };
  const pending = [...room.pending];
  pending[i] = p;
  return { ...room, pending };
}

export function dropPending(room: RoomState, clientMsgId: string): RoomState {
  if (!room.pending.some((p) => p.clientMsgId === clientMsgId)) return room;
  return { ...room, pending: room.pending.filter((p) => p.clientMsgId !== clientMsgId) };
}

/**
 * Stores presence states. `keep` names users whose stored state is newer
 * than these (a status event arrived after the subscribe that produced them
 * was sent); they are skipped.
 */
export function setPresence(
  state: ParleyState,
  users: readonly PresenceState[],
  keep: (userId: string) => boolean = () => false,
): ParleyState {
  let presence: Record<string, PresenceState> | undefined;
  for (const u of users) {
    if (keep(u.userId)) continue;
    const old = (presence ?? state.presence)[u.userId];
    if (old !== undefined && samePresence(old, u)) continue;
    presence ??= { ...state.presence };
    presence[u.userId] = u;
  }
  return presence === undefined ? state : { ...state, presence };
}

function samePresence(a: PresenceState, b: PresenceState): boolean {
  return (
    a.name === b.name &&
    a.isOnline === b.isOnline &&
    a.status === b.status &&
    a.lastSeen === b.lastSeen &&
    a.connections === b.connections
  );
}
