// Connection state recovery on /chat (on by default; --recovery-duration 10s
// here). A client whose transport breaks (no Socket.IO DISCONNECT) and that
// comes back within the window gets its socket id and rooms back, and the
// room's broadcasts it missed are replayed in order, exactly once.
//
// What breaks the transport, as in Node: over websocket, ws.terminate() (TCP
// torn down without a close frame: the client says "transport close"); over
// polling, engine.close() ("forced close" on the client, "transport close" on
// the server). Both are recoverable reasons. The client must have received at
// least one broadcast before (it carries the offset to resume from); here
// that is the other member's userJoined.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { useParley } from "../../support/hooks.ts";
import {
  MODES,
  closeClient,
  connectClient,
  dropConnection,
  newUser,
  ok,
  send,
  uniqueRoom,
  useClientCleanup,
  type ChatClient,
  type Mode,
} from "../client.ts";

const server = useParley();
useClientCleanup();

async function setup(mode: Mode): Promise<{ room: string; ann: ChatClient; bob: ChatClient }> {
  const room = uniqueRoom("recover");
  const ann = await connectClient(server(), { mode, user: newUser("Ann"), reconnection: true });
  const bob = await connectClient(server(), { mode: "websocket", user: newUser("Bob") });
  await ok(ann.socket, "joinRoom", { room });
  await ok(bob.socket, "joinRoom", { room });
  const [joined, offset] = await ann.log.nextArgs("userJoined");
  assert.deepEqual(joined, { room, user: bob.user });
  assert.equal(typeof offset, "string", "broadcasts carry a recovery offset");
  return { room, ann, bob };
}

for (const mode of MODES) {
  describe(`connection state recovery [${mode}]`, () => {
    it("missed messages are replayed in order, exactly once; id and room kept", async () => {
      const { room, ann, bob } = await setup(mode);
      const id = ann.socket.id;

      // Reconnect by hand, after the messages were sent, so that they are
      // really missed (no timing assumption).
      ann.socket.io.reconnection(false);
      dropConnection(ann);
      const [reason] = await ann.log.nextArgs("disconnect");
      assert.equal(reason, mode === "polling" ? "forced close" : "transport close");
      assert.equal(ann.socket.active, true, "a transport loss is not final");

      const missed = [
        await send(bob, room, "missed 1"),
        await send(bob, room, "missed 2"),
        await send(bob, room, "missed 3"),
      ];

      ann.socket.io.reconnection(true);
      ann.socket.connect();
      await ann.log.nextArgs("connect");
      assert.equal(ann.socket.recovered, true, "recovered");
      assert.equal(ann.socket.id, id, "same socket id");

      const replayed = [
        await ann.log.next("newChatMessage"),
        await ann.log.next("newChatMessage"),
        await ann.log.next("newChatMessage"),
      ];
      assert.deepEqual(replayed, missed, "in order");

      // Still in the room without joining again: live messages flow both ways.
      const live = await send(bob, room, "live");
      assert.deepEqual(await ann.log.next("newChatMessage"), live);
      const reply = await send(ann, room, "back");
      assert.deepEqual(await bob.log.next("newChatMessage"), reply);
      assert.equal(ann.log.count("newChatMessage"), 4, "nothing replayed twice");
      assert.deepEqual((await ok(ann.socket, "fetchHistory", { room })).messages, [...missed, live, reply]);
    });

    it("the Manager's own reconnection recovers too, with messages sent meanwhile", async () => {
      const { room, ann, bob } = await setup(mode);
      const id = ann.socket.id;
      dropConnection(ann);
      // Sent while Ann is away or already back: either way, each arrives once, in order.
      const sent = [await send(bob, room, "m1"), await send(bob, room, "m2"), await send(bob, room, "m3")];
      await ann.log.nextArgs("disconnect");
      await ann.log.nextArgs("connect");
      assert.equal(ann.socket.recovered, true);
      assert.equal(ann.socket.id, id);
      const got = [
        await ann.log.next("newChatMessage"),
        await ann.log.next("newChatMessage"),
        await ann.log.next("newChatMessage"),
      ];
      assert.deepEqual(got, sent);
      const live = await send(bob, room, "live");
      assert.deepEqual(await ann.log.next("newChatMessage"), live);
      assert.equal(ann.log.count("newChatMessage"), 4);
    });
  });
}

describe("connection state recovery: not after a deliberate disconnect", () => {
  for (const mode of MODES) {
    it(`[${mode}] socket.disconnect() then connect(): a fresh session that must join again`, async () => {
      const { room, ann, bob } = await setup(mode);
      const id = ann.socket.id;
      ann.socket.disconnect();
      assert.equal((await ann.log.nextArgs("disconnect"))[0], "io client disconnect");
      assert.deepEqual(await bob.log.next("userLeft"), { room, user: ann.user });
      await send(bob, room, "while away");
      ann.socket.connect();
      await ann.log.nextArgs("connect");
      assert.ok(!ann.socket.recovered);
      assert.notEqual(ann.socket.id, id);
      assert.equal(ann.log.count("newChatMessage"), 0);
      const res = await ok(ann.socket, "joinRoom", { room });
      assert.deepEqual(
        res.history.map((m) => m.content),
        ["while away"],
      );
    });
  }
});

describe("connection state recovery and room presence [websocket]", () => {
  /** Ann drops and recovers; Bob sees the drop as userLeft. */
  async function dropAndRecover(): Promise<{ room: string; ann: ChatClient; bob: ChatClient }> {
    const { room, ann, bob } = await setup("websocket");
    ann.socket.io.reconnection(false);
    dropConnection(ann);
    await ann.log.nextArgs("disconnect");
    // The drop itself is announced (the server cannot know she will be back).
    assert.deepEqual(await bob.log.next("userLeft"), { room, user: ann.user });
    ann.socket.connect();
    await ann.log.nextArgs("connect");
    assert.equal(ann.socket.recovered, true);
    return { room, ann, bob };
  }

  it(
    "the final disconnect of a recovered socket is announced (no ghost member)",
    async () => {
      const { room, ann } = await dropAndRecover();
      const carol = await connectClient(server(), { mode: "websocket", user: newUser("Carol") });
      const view = await ok(carol.socket, "joinRoom", { room });
      assert.ok(
        view.members.some((m) => m.id === ann.user.id),
        "the recovered socket is listed as a member",
      );
      closeClient(ann.socket);
      assert.deepEqual(await carol.log.next("userLeft"), { room, user: ann.user });
      const after = await ok(carol.socket, "joinRoom", { room });
      assert.ok(!after.members.some((m) => m.id === ann.user.id));
    },
  );

  it(
    "a recovered socket is announced again with userJoined",
    async () => {
      const { room, ann, bob } = await dropAndRecover();
      assert.deepEqual(await bob.log.next("userJoined"), { room, user: ann.user });
    },
  );
});
