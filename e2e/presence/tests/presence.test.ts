// /presence with the real npm socket.io-client, over polling and websocket:
// a user is online while any of its sockets (any namespace, any tab) is
// connected, `connections` counts them, a status set in one tab applies to
// the user, brief disconnects within the grace period do not flap, and
// subscribing by room watches the users present in the room. Watchers only
// receive what they watch.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { connectClient, ok as chatOk, useClientCleanup } from "../../chat/client.ts";
import { useParley } from "../../support/hooks.ts";
import { MAX_WATCH_ITEMS, type ErrorCode, type WatchRequest } from "../../../client-js/src/generated/events.ts";
import {
  MODES,
  call,
  closeSocket,
  connectPresence,
  newUser,
  ok,
  uniqueRoom,
  useCleanup,
} from "../client.ts";

// The grace period is short so that the suite stays fast, and long enough
// for a polling reconnect on a loaded 2-core machine to fit in it.
const GRACE_MS = 1000;
const server = useParley({ args: ["--presence-grace", `${GRACE_MS}ms`] });
useCleanup();
useClientCleanup();

for (const mode of MODES) {
  const other = mode === "polling" ? "websocket" : "polling";

  describe(`/presence [${mode}]`, () => {
    it("sends userConnected with the socket's own identity, then the user's state", async () => {
      const alice = newUser("Alice");
      const c = await connectPresence(server(), { mode, user: alice });
      assert.equal(c.userId, alice.userId);
      const own = await c.log.nextStatus(alice.userId);
      assert.equal(own.isOnline, true);
      assert.equal(own.status, "online");
      assert.equal(own.connections, 1);
      assert.equal(own.name, "Alice");
      const fromServer = c.log.entries.map((e) => e.event).filter((e) => e !== "connect");
      assert.deepEqual(fromServer.slice(0, 2), ["userConnected", "status"]);
    });

    it("counts every socket of a user, in any namespace and tab, and stays online until the last one ends", async () => {
      const bob = newUser("Bob");
      const watcher = await connectPresence(server(), { mode, user: newUser("Watcher") });
      const snap = await ok(watcher, "subscribe", { userIds: [bob.userId] });
      assert.deepEqual(snap.users, [{ userId: bob.userId, name: "", isOnline: false, status: "offline", lastSeen: 0, connections: 0 }]);

      const tab1 = await connectPresence(server(), { mode, user: bob });
      assert.equal((await watcher.log.nextStatus(bob.userId)).connections, 1);
      const tab2 = await connectPresence(server(), { mode: other, user: bob });
      assert.equal((await watcher.log.nextStatus(bob.userId)).connections, 2);
      const chat = await connectClient(server(), { mode, user: bob });
      const three = await watcher.log.nextStatus(bob.userId);
      assert.equal(three.connections, 3);
      assert.equal(three.isOnline, true);

      // Every tab of bob is told too (a tab watches its own user).
      assert.equal((await tab1.log.nextStatus(bob.userId)).connections, 1);
      assert.equal((await tab1.log.nextStatus(bob.userId)).connections, 2);
      assert.equal((await tab1.log.nextStatus(bob.userId)).connections, 3);

      closeSocket(tab2.socket);
      assert.equal((await watcher.log.nextStatus(bob.userId)).connections, 2);
      closeSocket(chat.socket);
      assert.equal((await watcher.log.nextStatus(bob.userId)).connections, 1);
      const closedAt = Date.now();
      closeSocket(tab1.socket);
      const off = await watcher.log.nextStatus(bob.userId);
      assert.equal(off.isOnline, false);
      assert.equal(off.status, "offline");
      assert.equal(off.connections, 0);
      assert.equal(off.name, "Bob");
      assert.ok(off.at - closedAt >= GRACE_MS - 50, `offline after ${off.at - closedAt} ms, before the grace period`);
      assert.ok(off.lastSeen >= closedAt - 1000 && off.lastSeen <= off.at, `lastSeen ${off.lastSeen} is the disconnect time (${closedAt})`);
    });

    it("a reconnect within the grace period is invisible to watchers", async () => {
      const bob = newUser("Bob");
      const watcher = await connectPresence(server(), { mode, user: newUser("Watcher") });
      await ok(watcher, "subscribe", { userIds: [bob.userId] });
      const first = await connectPresence(server(), { mode, user: bob });
      await ok(first, "setStatus", { status: "busy" });
      await watcher.log.nextStatus(bob.userId); // online
      await watcher.log.nextStatus(bob.userId); // busy
      const closedAt = Date.now();
      closeSocket(first.socket);
      const again = await connectPresence(server(), { mode, user: bob });
      // The new tab learns the user's state, which outlived the reconnect.
      const own = await again.log.nextStatus(bob.userId);
      assert.equal(own.status, "busy");
      assert.equal(own.connections, 1);
      // The grace timer is what is under test, so its period has to pass (a
      // timer, not synchronisation). Then an ordering proof: had the timer
      // not been cancelled, its "offline" would be queued for the watcher
      // before the status change that follows.
      await new Promise((r) => setTimeout(r, Math.max(0, closedAt + GRACE_MS + 100 - Date.now())));
      await ok(again, "setStatus", { status: "away" });
      assert.equal((await watcher.log.nextStatus(bob.userId)).status, "away");
      assert.deepEqual(
        watcher.log.statuses(bob.userId).map((s) => [s.status, s.connections]),
        [["online", 1], ["busy", 1], ["away", 1]],
      );
    });

    it("a status set in one tab applies to the user: its other tabs and watchers see it", async () => {
      const bob = newUser("Bob");
      const tab1 = await connectPresence(server(), { mode, user: bob });
      const tab2 = await connectPresence(server(), { mode: other, user: bob });
      const watcher = await connectPresence(server(), { mode, user: newUser("Watcher") });
      await ok(watcher, "subscribe", { userIds: [bob.userId] });
      const state = await ok(tab1, "setStatus", { status: "away" });
      assert.equal(state.status, "away");
      assert.equal(state.connections, 2);
      assert.equal((await watcher.log.nextStatus(bob.userId)).status, "away");
      await tab2.log.nextStatus(bob.userId); // its own state at connect
      assert.equal((await tab2.log.nextStatus(bob.userId)).status, "away");

      const bad = await call(tab1, "setStatus", { status: "offline" as never });
      assert.equal(bad.ok, false);
      if (!bad.ok) assert.equal(bad.error.code, "bad_request");
    });

    it("subscribing to rooms watches the users present in them; joining and leaving changes who is watched", async () => {
      const room = uniqueRoom("presence-room");
      const carol = newUser("Carol");
      const dave = newUser("Dave");
      const carolChat = await connectClient(server(), { mode, user: carol });
      await chatOk(carolChat.socket, "joinRoom", { room });
      const watcher = await connectPresence(server(), { mode, user: newUser("Watcher") });
      const snap = await ok(watcher, "subscribe", { rooms: [room] });
      assert.deepEqual(
        snap.users.map((u) => [u.userId, u.isOnline, u.connections]),
        [[carol.userId, true, 1]],
      );

      // dave connects elsewhere: not watched.
      const daveChat = await connectClient(server(), { mode, user: dave });
      // dave joins the room: watched from now on, and his state is delivered.
      await chatOk(daveChat.socket, "joinRoom", { room });
      const joined = await watcher.log.nextStatus(dave.userId);
      assert.equal(joined.isOnline, true);
      const daveTab = await connectPresence(server(), { mode, user: dave });
      await ok(daveTab, "setStatus", { status: "busy" });
      assert.equal((await watcher.log.nextStatus(dave.userId)).connections, 2);
      assert.equal((await watcher.log.nextStatus(dave.userId)).status, "busy");

      // dave leaves the room: no longer watched.
      await chatOk(daveChat.socket, "leaveRoom", { room });
      await ok(daveTab, "setStatus", { status: "away" });
      // Ordering proof that "away" was not delivered: the tracker delivers
      // under one lock, synchronously with the change (setStatus was acked),
      // so a change of carol's that follows is queued for the watcher after
      // anything dave's caused. Once it arrives, dave's would have too.
      const carolTab = await connectPresence(server(), { mode, user: carol });
      assert.equal((await watcher.log.nextStatus(carol.userId)).connections, 2);
      closeSocket(carolTab.socket);
      assert.deepEqual(
        watcher.log.statuses(dave.userId).map((s) => s.status),
        ["online", "online", "busy"],
      );
    });

    it("watching costs only the watchers: a socket that watches nobody receives no status of others", async () => {
      const bystander = await connectPresence(server(), { mode, user: newUser("Bystander") });
      const busy = await connectPresence(server(), { mode, user: newUser("Busy") });
      await ok(busy, "setStatus", { status: "busy" });
      const another = await connectPresence(server(), { mode: other, user: newUser("Another") });
      await another.log.nextStatus(another.userId); // its connection reached the tracker
      // Ordering proof: the tracker delivers synchronously under one lock, so
      // a change of the bystander's own state that follows (a tab watches its
      // own user) is queued after anything the others' changes caused.
      await ok(bystander, "setStatus", { status: "away" });
      await bystander.log.nextStatus(bystander.userId); // online, at connect
      assert.equal((await bystander.log.nextStatus(bystander.userId)).status, "away");
      assert.deepEqual(
        bystander.log.statuses().map((s) => s.userId),
        [bystander.userId, bystander.userId],
        "only its own state",
      );
    });

    it("refuses a connection without an identity, and bad subscriptions", async () => {
      await assert.rejects(connectPresence(server(), { mode, user: { name: "no id" } }), (err: Error & { data?: { code?: string } }) => {
        assert.equal(err.message, "unauthorized");
        assert.equal(err.data?.code, "unauthorized");
        return true;
      });
      const c = await connectPresence(server(), { mode, user: newUser("Picky") });
      const cases: [WatchRequest, ErrorCode][] = [
        [{ rooms: ["bad room"] }, "bad_request"],
        [{ userIds: [""] }, "bad_request"],
        [{ userIds: Array.from({ length: MAX_WATCH_ITEMS + 1 }, (_, i) => `u${i}`) }, "too_large"],
      ];
      for (const [req, code] of cases) {
        const res = await call(c, "subscribe", req);
        assert.equal(res.ok, false, JSON.stringify(req));
        if (!res.ok) assert.equal(res.error.code, code);
      }
    });
  });
}
