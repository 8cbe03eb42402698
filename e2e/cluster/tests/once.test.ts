// A mixed cluster, Parley (bin/parley --redis-url) and a Node socket.io
// node with @socket.io/redis-adapter on one redis-server: Parley publishes
// a chat message's broadcast through its once-per-id gate (one EVALSHA
// that sets <prefix>-once#/chat#<id> and publishes), and the Node node's
// sockets in the room get it as from any node, once: a resend of it
// through Parley (same clientMsgId) is not broadcast again.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createClient } from "redis";
import { io, type Socket } from "socket.io-client";
import type { ChatMessage } from "../../../client-js/src/generated/events.ts";
import { startNodeServer, startRedis, type Proc, type Redis } from "../harness.ts";
import { startParley, type Parley } from "../../support/parley.ts";
import { within } from "../../support/within.ts";

const WAIT_MS = 10_000;

interface Ack<T> {
  ok: boolean;
  data?: T;
  error?: { code: string; message: string };
}

function connectTo(url: string, auth: Record<string, unknown>): Promise<Socket> {
  const socket = io(`${url}/chat`, { transports: ["websocket"], forceNew: true, reconnection: false, auth });
  return within(
    new Promise<Socket>((resolve, reject) => {
      socket.once("connect", () => resolve(socket));
      socket.once("connect_error", reject);
    }),
    WAIT_MS,
    "connect",
  );
}

describe("a chat message on a mixed cluster", () => {
  let redis: Redis;
  let parley: Parley;
  let node: Proc;
  const sockets: Socket[] = [];

  before(async () => {
    redis = await startRedis();
    parley = await startParley({ args: ["--redis-url", redis.url] });
    node = await startNodeServer(redis.url);
  });

  after(async () => {
    for (const s of sockets) s.disconnect();
    await node?.stop();
    await parley?.dispose();
    await redis?.stop();
  });

  test("reaches a Node node's sockets once, its resend not again", async () => {
    const room = `once:${process.pid}`;
    const alice = await connectTo(parley.url, { userId: "alice", name: "Alice" });
    const nora = await connectTo(node.url, { rooms: [room] });
    sockets.push(alice, nora);
    assert.deepEqual(await nora.timeout(WAIT_MS).emitWithAck("rooms"), [nora.id, room].sort());
    const joined = (await alice.timeout(WAIT_MS).emitWithAck("joinRoom", { room })) as Ack<unknown>;
    assert.equal(joined.ok, true);
    const got: ChatMessage[] = [];
    const waiters: (() => void)[] = [];
    nora.on("newChatMessage", (m: ChatMessage) => {
      got.push(m);
      waiters.shift()?.();
    });
    const nth = (n: number) =>
      within(
        new Promise<void>((resolve) => (got.length >= n ? resolve() : waiters.push(resolve))),
        WAIT_MS,
        `newChatMessage #${n} at the Node node`,
      );
    const send = async (content: string, clientMsgId: string) => {
      const ack = (await alice.timeout(WAIT_MS).emitWithAck("chatMessage", { room, content, clientMsgId })) as Ack<ChatMessage>;
      assert.equal(ack.ok, true, JSON.stringify(ack.error));
      return ack.data!;
    };

    const one = await send("one", "c1");
    await nth(1);
    assert.equal(got[0]!.id, one.id);
    assert.equal(got[0]!.content, "one");
    // The gate is in Redis, under the adapter's prefix, with its TTL.
    const rc = createClient({ url: redis.url });
    await rc.connect();
    try {
      const ttl = await rc.pTTL(`socket.io-once#/chat#${one.id}`);
      assert.ok(ttl > 0 && ttl <= 60_000, `gate TTL ${ttl} ms`);
    } finally {
      await rc.quit();
    }
    // The resend gets the original back and broadcasts nothing: the next
    // message the Node node's socket gets is the one sent after it.
    const again = await send("one", "c1");
    assert.equal(again.id, one.id);
    const two = await send("two", "c2");
    await nth(2);
    assert.deepEqual(
      got.map((m) => m.id),
      [one.id, two.id],
    );
  });
});
