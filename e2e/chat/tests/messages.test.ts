// chatMessage: the ack is the stored message (UUIDv7 id, server timestamp,
// sender from the handshake identity, trimmed content); newChatMessage goes
// to the room except the sending socket, so the sender's other tabs get it;
// a clientMsgId makes a resend return the original without a second
// broadcast.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { useParley } from "../../support/hooks.ts";
import {
  MODES,
  assertError,
  call,
  callRaw,
  connectClient,
  newUser,
  ok,
  send,
  uniqueRoom,
  useClientCleanup,
  uuidV7Millis,
  type ChatClient,
  type Mode,
} from "../client.ts";

const server = useParley();
useClientCleanup();

/** Ann with two tabs and Bob, all joined to a fresh room. */
async function setup(mode: Mode): Promise<{ room: string; ann1: ChatClient; ann2: ChatClient; bob: ChatClient }> {
  const room = uniqueRoom("msg");
  const ann = newUser("Ann");
  const [ann1, ann2, bob] = await Promise.all([
    connectClient(server(), { mode, user: ann }),
    connectClient(server(), { mode, user: ann }),
    connectClient(server(), { mode, user: newUser("Bob") }),
  ]);
  for (const c of [ann1!, ann2!, bob!]) await ok(c.socket, "joinRoom", { room });
  return { room, ann1: ann1!, ann2: ann2!, bob: bob! };
}

for (const mode of MODES) {
  describe(`chatMessage [${mode}]`, () => {
    it("acks the stored message and reaches the other user and the sender's other tab, not the sending socket", async () => {
      const { room, ann1, ann2, bob } = await setup(mode);

      const before = Date.now();
      const msg = await send(ann1, room, "  \t hello, world \n ");
      const after = Date.now();

      assert.deepEqual(Object.keys(msg).sort(), ["content", "id", "room", "sender", "timestamp"]);
      assert.equal(msg.room, room);
      assert.equal(msg.content, "hello, world", "content is trimmed");
      assert.deepEqual(msg.sender, ann1.user, "sender is the handshake identity");
      // Same machine, so the server clock is ours; allow a little skew.
      assert.ok(
        msg.timestamp >= before - 1000 && msg.timestamp <= after + 1000,
        `timestamp ${msg.timestamp} in [${before}, ${after}]`,
      );
      const idMillis = uuidV7Millis(msg.id);
      assert.ok(Math.abs(idMillis - msg.timestamp) <= 1000, `id time ${idMillis} close to timestamp ${msg.timestamp}`);

      // The other user and Ann's other tab get exactly the acked message (plus
      // the recovery offset that connection state recovery appends).
      for (const c of [bob, ann2]) {
        const args = await c.log.nextArgs("newChatMessage");
        assert.deepEqual(args[0], msg);
        assert.equal(args.length, 2, "payload + recovery offset");
        assert.equal(typeof args[1], "string");
      }

      // The sending socket got nothing: its next newChatMessage is Bob's reply.
      const reply = await send(bob, room, "hi Ann");
      assert.deepEqual(await ann1.log.next("newChatMessage"), reply);
      assert.deepEqual(await ann2.log.next("newChatMessage"), reply);
      assert.equal(ann1.log.count("newChatMessage"), 1);
      assert.notEqual(reply.id, msg.id);
      assert.ok(reply.id > msg.id, "ids ascend in commit order");
    });

    it("the sender cannot be forged: a sender field is an unknown field", async () => {
      const { room, ann1, bob } = await setup(mode);
      const forged = await callRaw(ann1.socket, "chatMessage", { room, content: "I am Bob", sender: bob.user });
      assertError(forged, "bad_request", "forged sender");
      const forgedId = await callRaw(ann1.socket, "chatMessage", {
        room,
        content: "x",
        id: "01900000-0000-7000-8000-000000000000",
      });
      assertError(forgedId, "bad_request", "forged id");
      const forgedTs = await callRaw(ann1.socket, "chatMessage", { room, content: "x", timestamp: 1 });
      assertError(forgedTs, "bad_request", "forged timestamp");

      // Nothing was posted: Bob's first newChatMessage is the real one.
      const real = await send(ann1, room, "I am Ann");
      assert.deepEqual(real.sender, ann1.user);
      assert.deepEqual(await bob.log.next("newChatMessage"), real);
      const history = await ok(bob.socket, "fetchHistory", { room });
      assert.deepEqual(history.messages, [real]);
    });

    it("clientMsgId: a resend returns the original and is not broadcast again", async () => {
      const { room, ann1, ann2, bob } = await setup(mode);
      const key = `key-${mode}-${room}`;

      const original = await send(ann1, room, "once", key);
      assert.equal(original.clientMsgId, key);
      assert.deepEqual(await bob.log.next("newChatMessage"), original);

      // Same key from the same socket, even with other content: the original.
      assert.deepEqual(await send(ann1, room, "once", key), original);
      assert.deepEqual(await send(ann1, room, "twice?", key), original);
      // The key belongs to the user, not the socket: Ann's other tab gets the original too.
      assert.deepEqual(await send(ann2, room, "once", key), original);
      // Another user's identical key is another message.
      const bobs = await send(bob, room, "once", key);
      assert.notEqual(bobs.id, original.id);
      assert.deepEqual(bobs.sender, bob.user);

      // No second broadcast: after the original, Ann's first tab sees Bob's message
      // and Bob sees the follow-up.
      assert.deepEqual(await ann1.log.next("newChatMessage"), bobs);
      const follow = await send(ann1, room, "follow-up");
      assert.deepEqual(await bob.log.next("newChatMessage"), follow);
      assert.equal(bob.log.count("newChatMessage"), 2);
      assert.deepEqual(await ann2.log.next("newChatMessage"), original);
      assert.deepEqual(await ann2.log.next("newChatMessage"), bobs);
      assert.deepEqual(await ann2.log.next("newChatMessage"), follow);

      const history = await ok(ann1.socket, "fetchHistory", { room });
      assert.deepEqual(history.messages, [original, bobs, follow]);
    });

    it("clientMsgId: reused in another room is refused with conflict, and nothing is stored there", async () => {
      const { room, ann1, bob } = await setup(mode);
      const other = uniqueRoom("msg-other");
      await ok(ann1.socket, "joinRoom", { room: other });
      await ok(bob.socket, "joinRoom", { room: other });
      const key = `key-${mode}-${room}-cross`;

      const original = await send(ann1, room, "in the first room", key);
      assert.deepEqual(await bob.log.next("newChatMessage"), original);
      const refused = await call(ann1.socket, "chatMessage", {
        room: other,
        content: "in the second room",
        clientMsgId: key,
      });
      assertError(refused, "conflict", "the key of a message in another room");
      // The key still answers for its own room.
      assert.deepEqual(await send(ann1, room, "in the first room", key), original);
      // Nothing reached the second room: the next message there is the first Bob sees.
      const next = await send(ann1, other, "really in the second room");
      assert.deepEqual(await bob.log.next("newChatMessage"), next);
      assert.equal(bob.log.count("newChatMessage"), 2);
      assert.deepEqual((await ok(bob.socket, "fetchHistory", { room: other })).messages, [next]);
    });
  });
}
