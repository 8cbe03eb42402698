// The presence part of the client: what it watches (renewed on each
// /presence connection), the states in the store, and the user's status.

import { MAX_WATCH_ITEMS, type PresenceState, type UserStatus, type WatchRequest } from "./generated/events.js";
import type { Connection } from "./connection.js";
import { setPresence } from "./state.js";

export class Presence {
  readonly #conn: Connection;
  /** What is watched, renewed on each /presence connection. */
  readonly #watched = { rooms: new Set<string>(), userIds: new Set<string>() };
  /** Counts status events; #statusTick[user] is the count when that user's last one arrived. */
  #ticks = 0;
  readonly #statusTick = new Map<string, number>();

  constructor(conn: Connection) {
    this.#conn = conn;
    const p = conn.presence;
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
      const self = conn.store.getState().self;
      if (self?.id !== userId) conn.setSelf({ id: userId, name: self?.name ?? userId });
    });
    p.on("status", (st) => {
      this.#statusTick.set(st.userId, ++this.#ticks);
      conn.store.update((s) => setPresence(s, [st]));
    });
  }

  /** Whether the user is watched. */
  watches(userId: string): boolean {
    return this.#watched.userIds.has(userId);
  }

  /** Subscribes in requests of at most MAX_WATCH_ITEMS rooms and user ids. */
  async #subscribe(req: WatchRequest): Promise<void> {
    const sent = this.#ticks;
    for (const part of chunks(req)) {
      const snap = await this.#conn.presenceCall("subscribe", part);
      // A status event that arrived while subscribe was pending is newer than the snapshot.
      this.#conn.store.update((s) => setPresence(s, snap.users, (id) => (this.#statusTick.get(id) ?? 0) > sent));
    }
  }

  async watch(req: WatchRequest): Promise<void> {
    for (const r of req.rooms ?? []) this.#watched.rooms.add(r);
    for (const u of req.userIds ?? []) this.#watched.userIds.add(u);
    if (!this.#conn.presence.connected) return; // subscribed on connect
    await this.#subscribe(req);
  }

  async unwatch(req: WatchRequest): Promise<void> {
    for (const r of req.rooms ?? []) this.#watched.rooms.delete(r);
    for (const u of req.userIds ?? []) this.#watched.userIds.delete(u);
    if (!this.#conn.presence.connected) return;
    for (const part of chunks(req)) await this.#conn.presenceCall("unsubscribe", part);
  }

  setStatus(status: UserStatus): Promise<PresenceState> {
    return this.#conn.presenceCall("setStatus", { status }).then((st) => {
      this.#conn.store.update((s) => setPresence(s, [st]));
      return st;
    });
  }
}

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

/** Discards a rejection that needs no handling (the state already tells). */
export function ignore(): void {}
