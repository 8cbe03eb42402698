// typing: relayed to the room's other sockets as {room, user, isTyping}.
// isTyping:true is volatile (the server drops it for a socket whose transport
// is busy, as Node does), so the sender repeats it until it shows up; the
// server's own isTyping:false (after 5 s of silence, on leaveRoom or on
// disconnect) is not volatile. typing has no ack: a bad one is dropped.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { useParley } from "../../support/hooks.ts";
import {
  MODES,
  WAIT_MS,
  closeClient,
  connectClient,
  negativeWindow,
  newUser,
  nextStop,
  ok,
  typeUntilSeen,
  uniqueRoom,
  untyped,
  useClientCleanup,
  type ChatClient,
  type Mode,
} from "../client.ts";

const server = useParley();
useClientCleanup();

/** The server's typing timeout (namespaces/chat DefaultTypingTimeout). */
const TYPING_TIMEOUT_MS = 5000;

async function setup(mode: Mode): Promise<{ room: string; ann: ChatClient; annTab: ChatClient; bob: ChatClient }> {
  const room = uniqueRoom("typing");
  const annUser = newUser("Ann");
  const [ann, annTab, bob] = await Promise.all([
    connectClient(server(), { mode, user: annUser }),
    connectClient(server(), { mode, user: annUser }),
    connectClient(server(), { mode, user: newUser("Bob") }),
  ]);
  for (const c of [ann!, annTab!, bob!]) await ok(c.socket, "joinRoom", { room });
  return { room, ann: ann!, annTab: annTab!, bob: bob! };
}

for (const mode of MODES) {
  describe(`typing [${mode}]`, () => {
    it("is relayed to the other user and the sender's other tab, not back to the sender; isTyping:false too", async () => {
      const { room, ann, annTab, bob } = await setup(mode);
      assert.deepEqual(await typeUntilSeen(ann, bob, room), { room, user: ann.user, isTyping: true });
      // Ann's other tab is another socket in the room: it is told too.
      assert.deepEqual(await typeUntilSeen(ann, annTab, room), { room, user: ann.user, isTyping: true });

      // Explicit stop: may be dropped as well (volatile), so repeat the pair
      // until a false arrives; every notice Bob gets is Ann's.
      const stopped = nextStop(bob, room, ann.user);
      const stopper = setInterval(() => ann.socket.emit("typing", { room, isTyping: false }), 100);
      ann.socket.emit("typing", { room, isTyping: false });
      try {
        assert.deepEqual(await stopped, { room, user: ann.user, isTyping: false });
      } finally {
        clearInterval(stopper);
      }

      // Ann never hears her own typing: her first notice is Bob's.
      assert.deepEqual(await typeUntilSeen(bob, ann, room), { room, user: bob.user, isTyping: true });
    });

    it("a bad typing event is dropped without an answer and without a relay", async () => {
      const { room, ann, bob } = await setup(mode);
      const elsewhere = uniqueRoom("typing-elsewhere");
      const raw = untyped(ann.socket);
      raw.emit("typing", { room });
      raw.emit("typing", { room, isTyping: "yes" });
      raw.emit("typing", { room, isTyping: true, user: bob.user });
      raw.emit("typing", { room: elsewhere, isTyping: true }); // not joined: forbidden, silently
      raw.emit("typing", { room: "not a room", isTyping: true });
      raw.emit("typing", "typing");
      raw.emit("typing", null);
      raw.emit("typing", [{ room, isTyping: true }]);
      raw.emit("typing", { room, isTyping: true }, { room, isTyping: true });
      // typing has no ack: one sent anyway is ignored.
      let acked = false;
      raw.emit("typing", { room: "no spaces", isTyping: true }, () => (acked = true));

      // The first notice Bob gets comes from the good event, sent after the bad ones.
      const notice = await typeUntilSeen(ann, bob, room);
      assert.deepEqual(notice, { room, user: ann.user, isTyping: true });
      await negativeWindow(); // bounded negative check: no ack and no other notice arrives
      assert.equal(acked, false, "typing is never acked");
      // Relayed bad events would show up as notices that are not exactly the good one.
      for (const n of bob.log.all("typing")) assert.deepEqual(n, { room, user: ann.user, isTyping: true });
      assert.equal((await ok(ann.socket, "fetchHistory", { room })).messages.length, 0, "the socket still works");
    });

    it("leaveRoom and disconnect end the typing state: isTyping:false, then userLeft", async () => {
      const { room, ann, annTab, bob } = await setup(mode);
      await typeUntilSeen(ann, bob, room);
      await ok(ann.socket, "leaveRoom", { room });
      // Not volatile: it must arrive.
      assert.deepEqual(await nextStop(bob, room, ann.user), { room, user: ann.user, isTyping: false });

      await typeUntilSeen(annTab, bob, room);
      closeClient(annTab.socket);
      assert.deepEqual(await nextStop(bob, room, ann.user), { room, user: ann.user, isTyping: false });
      assert.deepEqual(await bob.log.next("userLeft"), { room, user: ann.user });
      const typingThenLeft = bob.log.entries
        .filter((e) => e.event === "typing" || e.event === "userLeft")
        .slice(-2)
        .map((e) => e.event);
      assert.deepEqual(typingThenLeft, ["typing", "userLeft"]);
    });
  });
}

describe("typing timeout [websocket]", () => {
  it("the server sends isTyping:false after 5 s without an update", { timeout: 15_000 }, async () => {
    const { room, ann, bob } = await setup("websocket");
    await typeUntilSeen(ann, bob, room);
    const lastTyping = Date.now(); // the repeats stopped: this is after Ann's last isTyping:true
    const off = await nextStop(bob, room, ann.user, TYPING_TIMEOUT_MS + WAIT_MS);
    const elapsed = Date.now() - lastTyping;
    assert.deepEqual(off, { room, user: ann.user, isTyping: false });
    assert.ok(elapsed >= TYPING_TIMEOUT_MS - 500, `isTyping:false came after ${elapsed} ms, not before the timeout`);
  });
});
