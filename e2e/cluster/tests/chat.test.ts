// The chat core on a cluster: a chat room is the adapter room of its plain
// name, so a backend publishing with @socket.io/redis-emitter (or a Node
// node's io.of("/chat").to(room)) reaches the room's members on a real
// bin/parley started with --redis-url, and nobody else.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Emitter } from "@socket.io/redis-emitter";
import { createClient } from "redis";
import { io, type Socket } from "socket.io-client";
import { startRedis, type Redis } from "../harness.ts";
import { startParley, type Parley } from "../../support/parley.ts";
import { within } from "../../support/within.ts";

const WAIT_MS = 10_000;

function chatClient(url: string, userId: string): Promise<Socket> {
  const socket = io(`${url}/chat`, {
    transports: ["websocket"],
    forceNew: true,
    reconnection: false,
    auth: { userId, name: userId },
  });
  return within(
    new Promise<Socket>((resolve, reject) => {
      socket.once("connect", () => resolve(socket));
      socket.once("connect_error", reject);
    }),
    WAIT_MS,
    `${userId} connects`,
  );
}

function next(socket: Socket, event: string): Promise<unknown[]> {
  return within(new Promise((resolve) => socket.once(event, (...args: unknown[]) => resolve(args))), WAIT_MS, event);
}

describe("chat rooms by their plain names on a cluster", () => {
  let redis: Redis;
  let parley: Parley;
  const sockets: Socket[] = [];

  before(async () => {
    redis = await startRedis();
    parley = await startParley({ args: ["--redis-url", redis.url] });
  });

  after(async () => {
    for (const s of sockets) s.disconnect();
    await parley?.dispose();
    await redis?.stop();
  });

  test("a redis-emitter's to(room) reaches the chat room's members only", async () => {
    const room = `lobby:${process.pid}`;
    const [member, outsider] = await Promise.all([
      chatClient(parley.url, "member"),
      chatClient(parley.url, "outsider"),
    ]);
    sockets.push(member, outsider);
    const joined = (await member.timeout(WAIT_MS).emitWithAck("joinRoom", { room })) as { ok: boolean };
    assert.equal(joined.ok, true);
    const client = createClient({ url: redis.url });
    await client.connect();
    try {
      const chat = new Emitter(client).of("/chat");
      const memberSaw: string[] = [];
      const outsiderSaw: string[] = [];
      member.onAny((event: string) => memberSaw.push(event));
      outsider.onAny((event: string) => outsiderSaw.push(event));
      chat.to(room).emit("notice", "to the room");
      // (Connection state recovery appends each packet's offset.)
      assert.equal((await next(member, "notice"))[0], "to the room");
      // The old encoding ("#" + name) addresses nothing any more.
      chat.to(`#${room}`).emit("stale", "x");
      // A namespace-wide emit reaches both, after the ones above (one
      // publisher, one subscription: in order): the outsider saw none of
      // the room's events, and "#room" reached nobody.
      chat.emit("everyone");
      await Promise.all([next(member, "everyone"), next(outsider, "everyone")]);
      assert.deepEqual(memberSaw, ["notice", "everyone"]);
      assert.deepEqual(outsiderSaw, ["everyone"]);
    } finally {
      await client.quit();
    }
  });
});
