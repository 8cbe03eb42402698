// Mixed cluster: a Parley node and a Node socket.io 4.8 node with
// @socket.io/redis-adapter on one redis-server, plus a
// @socket.io/redis-emitter publisher, behave as one server in both
// directions.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Emitter } from "@socket.io/redis-emitter";
import { createClient } from "redis";
import { dial, startNodeServer, startParley, startRedis, waitServerCount, type Client, type Proc, type Redis } from "../harness.ts";

interface RemoteSocket {
  id: string;
  rooms: string[];
  data: Record<string, unknown>;
  handshake: { headers: Record<string, string>; query: Record<string, string>; auth: Record<string, unknown> };
}

describe("mixed Parley + Node cluster on Redis", () => {
  let redis: Redis;
  let parley: Proc;
  let node: Proc;
  const clients: Client[] = [];
  const open = async (p: Proc, auth: Record<string, unknown> = {}) => {
    const c = await dial(p.url, auth);
    clients.push(c);
    return c;
  };

  before(async () => {
    redis = await startRedis();
    [parley, node] = await Promise.all([startParley(redis.url), startNodeServer(redis.url)]);
    const [p, n] = await Promise.all([open(parley), open(node)]);
    await Promise.all([waitServerCount(p, 2), waitServerCount(n, 2)]);
  });

  after(async () => {
    for (const c of clients) c.close();
    await Promise.all([parley?.stop(), node?.stop()]);
    await redis?.stop();
  });

  test("broadcasts cross both ways, by room and with except", async () => {
    const p1 = await open(parley);
    const p2 = await open(parley);
    const n1 = await open(node);
    const n2 = await open(node);
    await p1.call("join", "lobby");
    await n1.call("join", "lobby");

    // Global, from each side.
    await p1.call("emit-to", { event: "hello", args: ["from parley", 1, { a: [true, null] }] });
    for (const c of [p1, p2, n1, n2]) assert.deepEqual(await c.next("hello"), ["from parley", 1, { a: [true, null] }]);
    await n1.call("emit-to", { event: "hello", args: ["from node"] });
    for (const c of [p1, p2, n1, n2]) assert.deepEqual(await c.next("hello"), ["from node"]);

    // To one room (its own channel), from each side; the others get only
    // the final global "end".
    await n2.call("emit-to", { to: ["lobby"], event: "room", args: ["n"] });
    await p1.call("emit-to", { to: ["lobby"], excludeSelf: true, event: "room", args: ["p"] });
    assert.deepEqual(await p1.next("room"), ["n"]);
    assert.deepEqual((await n1.next("room")).concat(await n1.next("room")).sort(), ["n", "p"]);
    await p2.call("emit-to", { except: ["lobby"], event: "outside", args: [] });
    await p2.call("emit-to", { event: "end", args: [] });
    for (const c of [p1, p2, n1, n2]) await c.next("end");
    assert.deepEqual(await p2.next("outside"), []);
    assert.deepEqual(await n2.next("outside"), []);
  });

  test("binary attachments survive the crossing", async () => {
    const p1 = await open(parley);
    const n1 = await open(node);
    const bytes = Buffer.from([0, 1, 2, 250, 255]);
    await n1.call("emit-to", { to: [p1.id], event: "bin", args: ["label", bytes, { nested: Buffer.from("xyz") }] });
    const [label, buf, obj] = await p1.next("bin");
    assert.equal(label, "label");
    assert.ok(Buffer.isBuffer(buf) || buf instanceof ArrayBuffer, "a binary value");
    assert.deepEqual(Buffer.from(buf as ArrayBuffer), bytes);
    assert.deepEqual(Buffer.from((obj as { nested: ArrayBuffer }).nested), Buffer.from("xyz"));
    await p1.call("emit-to", { to: [n1.id], event: "bin", args: [Buffer.from("back")] });
    const [back] = await n1.next("bin");
    assert.deepEqual(Buffer.from(back as ArrayBuffer), Buffer.from("back"));
  });

  test("fetchSockets from either side sees both nodes' sockets", async () => {
    const p1 = await open(parley, { data: { name: "ann" } });
    const n1 = await open(node, { data: { name: "bob" } });
    await p1.call("join", "fetch-room");
    await n1.call("join", "fetch-room");
    for (const asker of [p1, n1]) {
      const res = await asker.call<{ error: string | null; sockets: RemoteSocket[] }>("fetch-sockets-full", "fetch-room");
      assert.equal(res.error, null);
      assert.deepEqual(res.sockets.map((s) => s.id).sort(), [p1.id, n1.id].sort());
      const ann = res.sockets.find((s) => s.id === p1.id)!;
      const bob = res.sockets.find((s) => s.id === n1.id)!;
      assert.deepEqual(ann.rooms, ["fetch-room", p1.id].sort());
      assert.deepEqual(bob.rooms, ["fetch-room", n1.id].sort());
      assert.deepEqual(ann.data, { name: "ann" });
      assert.deepEqual(bob.data, { name: "bob" });
      assert.equal(ann.handshake.query.EIO, "4");
      assert.deepEqual(ann.handshake.auth, { data: { name: "ann" } });
      assert.equal(ann.handshake.headers.upgrade, "websocket");
    }
    const ids = await n1.call<string[]>("fetch-sockets", null);
    assert.ok(ids.includes(p1.id) && ids.includes(n1.id));
  });

  test("socketsJoin, socketsLeave and disconnectSockets from either side", async () => {
    const p1 = await open(parley);
    const n1 = await open(node);
    // Node makes a Parley socket join a room; Parley makes a Node socket join it.
    await n1.call("sockets-join", { room: "vip", target: p1.id });
    await p1.call("sockets-join", { room: "vip", target: n1.id });
    const deadline = Date.now() + 10_000;
    for (;;) {
      const ids = await p1.call<string[]>("fetch-sockets", "vip");
      if (ids.includes(p1.id) && ids.includes(n1.id)) break;
      assert.ok(Date.now() < deadline, `vip is ${ids}`);
    }
    await n1.call("sockets-leave", { room: "vip", target: p1.id });
    for (;;) {
      const ids = await n1.call<string[]>("fetch-sockets", "vip");
      if (!ids.includes(p1.id)) break;
      assert.ok(Date.now() < deadline, `vip is ${ids}`);
    }
    // Parley disconnects the Node socket, Node the Parley one.
    p1.socket.emit("disconnect-sockets", { room: n1.id, close: false });
    assert.deepEqual(await n1.next("disconnect"), ["io server disconnect"]);
    const n2 = await open(node);
    n2.socket.emit("disconnect-sockets", { room: p1.id, close: false });
    assert.deepEqual(await p1.next("disconnect"), ["io server disconnect"]);
  });

  test("broadcasts with acks collect every node's answers", async () => {
    const p1 = await open(parley);
    const n1 = await open(node);
    await p1.call("join", "ack-room");
    await n1.call("join", "ack-room");
    const want = [JSON.stringify(p1.id), JSON.stringify(n1.id)].sort();
    for (const asker of [p1, n1]) {
      const res = await asker.call<{ error: string | null; responses: string[] }>("broadcast-ask", { timeout: 3000, room: "ack-room", args: ["q"] });
      assert.equal(res.error, null);
      assert.deepEqual(res.responses, want);
      await p1.next("ask");
      await n1.next("ask");
    }
  });

  test("serverSideEmit both ways, with acks", async () => {
    const p1 = await open(parley);
    const n1 = await open(node);
    await p1.call("server-side-emit", { args: ["from parley", 7] });
    assert.deepEqual(await n1.next("server-side"), ["from parley", 7]);
    await n1.call("server-side-emit", { args: ["from node"] });
    assert.deepEqual(await p1.next("server-side"), ["from node"]);

    const fromParley = await p1.call<{ error: string | null; responses: unknown[] }>("server-side-emit", { withAck: true, timeout: 3000, args: ["ask"] });
    assert.deepEqual(fromParley, { error: null, responses: [{ node: "node" }] });
    const fromNode = await n1.call<{ error: string | null; responses: unknown[] }>("server-side-emit", { withAck: true, timeout: 3000, args: ["ask"] });
    assert.deepEqual(fromNode, { error: null, responses: [{ node: "parley" }] });
    // A server never hears its own server-side emit.
    await p1.next("server-side");
    await n1.next("server-side");
  });

  test("a redis-emitter publisher reaches Parley's clients", async () => {
    const p1 = await open(parley);
    const p2 = await open(parley);
    const n1 = await open(node);
    await p1.call("join", "emitted");
    await n1.call("join", "emitted");
    const client = createClient({ url: redis.url });
    await client.connect();
    try {
      const emitter = new Emitter(client);
      emitter.to("emitted").emit("from-emitter", "text", Buffer.from([9, 8, 7]));
      for (const c of [p1, n1]) {
        const [text, bin] = await c.next("from-emitter");
        assert.equal(text, "text");
        assert.deepEqual(Buffer.from(bin as ArrayBuffer), Buffer.from([9, 8, 7]));
      }
      emitter.except("emitted").emit("not-emitted");
      emitter.emit("end");
      for (const c of [p1, p2, n1]) await c.next("end");
      assert.deepEqual(await p2.next("not-emitted"), []);
      // Emitter requests: join, then disconnect.
      emitter.in(p2.id).socketsJoin("emitter-room");
      const deadline = Date.now() + 10_000;
      for (;;) {
        const ids = await p1.call<string[]>("fetch-sockets", "emitter-room");
        if (ids.includes(p2.id)) break;
        assert.ok(Date.now() < deadline, `emitter-room is ${ids}`);
      }
      emitter.in("emitter-room").disconnectSockets();
      assert.deepEqual(await p2.next("disconnect"), ["io server disconnect"]);
      emitter.serverSideEmit("cluster-hello", "emitted");
      assert.deepEqual(await p1.next("server-side"), ["emitted"]);
      assert.deepEqual(await n1.next("server-side"), ["emitted"]);
    } finally {
      await client.quit();
    }
  });
});

describe("mixed cluster: Redis killed and restarted", () => {
  let redis: Redis;
  let parley: Proc;
  let node: Proc;
  const clients: Client[] = [];
  const open = async (p: Proc, auth: Record<string, unknown> = {}) => {
    const c = await dial(p.url, auth);
    clients.push(c);
    return c;
  };

  before(async () => {
    redis = await startRedis();
    [parley, node] = await Promise.all([startParley(redis.url), startNodeServer(redis.url)]);
  });

  after(async () => {
    for (const c of clients) c.close();
    await Promise.all([parley?.stop(), node?.stop()]);
    await redis?.stop();
  });

  test("each node keeps serving its clients; the cluster heals when Redis is back", async () => {
    const p1 = await open(parley);
    const p2 = await open(parley);
    const n1 = await open(node);
    await Promise.all([waitServerCount(p1, 2), waitServerCount(n1, 2)]);
    for (const c of [p1, p2, n1]) await c.call("join", "r");
    await p1.call("emit-to", { to: ["r"], event: "before", args: [] });
    for (const c of [p1, p2, n1]) await c.next("before");

    await redis.kill();
    // Parley's own clients still talk to each other.
    for (let i = 0; i < 10; i++) await p1.call("emit-to", { to: ["r"], excludeSelf: true, event: "during", args: [i] });
    for (let i = 0; i < 10; i++) assert.deepEqual(await p2.next("during"), [i]);
    assert.equal(await p1.call<number>("server-count"), -1, "server count while Redis is down");

    await redis.restart();
    await Promise.all([waitServerCount(p1, 2), waitServerCount(n1, 2)]);
    await n1.call("emit-to", { to: ["r"], event: "after", args: ["from node"] });
    assert.deepEqual(await p1.next("after"), ["from node"]);
    assert.deepEqual(await p2.next("after"), ["from node"]);
    await p1.call("emit-to", { to: ["r"], excludeSelf: true, event: "after parley", args: [] });
    await n1.next("after parley");
  });
});
