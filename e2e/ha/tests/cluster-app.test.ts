// What issue 12 §2 asks of the application on a cluster, behind HAProxy:
//
// - /presence aggregates a user's sockets on every node: tabs on two nodes
//   are one user, `connections` counts them all, with the grace period;
// - a status set on one node reaches a watcher on another;
// - the users of a node killed with SIGKILL go offline on the other nodes
//   within 30 s plus the grace period (node heartbeats in Redis);
// - joinRoom's member list names the members on every node;
// - SSE on one node streams messages posted on another.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { newUser as chatUser, ok as chatOk, send, uniqueRoom, useClientCleanup } from "../../chat/client.ts";
import { SSEClient, closeSocket, connectPresence, newUser, ok, useCleanup, type Mode, type PresenceClient } from "../../presence/client.ts";
import { assertNodesRunning, connectOn, useCluster } from "../client.ts";
import type { Cluster } from "../cluster.ts";
import { asParley } from "../cluster.ts";

const GRACE_MS = 1000;
/** The bound the issue states for a dead node's users, with default heartbeat settings. */
const DEAD_NODE_MS = 30_000 + GRACE_MS;

const env = useCluster({ args: ["--presence-grace", `${GRACE_MS}ms`] });
useCleanup();
useClientCleanup();

/** Connects a /presence socket through HAProxy until it lands on node. */
async function presenceOn(cluster: Cluster, node: number, mode: Mode, user: { userId: string; name: string }): Promise<PresenceClient> {
  for (let attempt = 0; attempt < 12; attempt++) {
    const before = cluster.counts(user.userId, "/presence");
    const c = await connectPresence(asParley(cluster), { mode, user });
    if ((await cluster.waitConnected(user.userId, before, "/presence")) === node) return c;
    closeSocket(c.socket);
  }
  throw new Error(`${user.userId} never landed on node${node + 1}`);
}

describe("presence across nodes", () => {
  it("a user with tabs on two nodes is one user: a watcher on a third node sees connections 1, 2, 1, then offline after the grace period", async () => {
    const { cluster } = env();
    const bob = newUser("Bob");
    const watcher = await presenceOn(cluster, 2, "websocket", newUser("Watcher"));
    await ok(watcher, "subscribe", { userIds: [bob.userId] });
    const tab1 = await presenceOn(cluster, 0, "websocket", bob);
    assert.equal((await watcher.log.nextStatus(bob.userId)).connections, 1);
    const tab2 = await presenceOn(cluster, 1, "polling", bob);
    const two = await watcher.log.nextStatus(bob.userId);
    assert.equal(two.connections, 2);
    assert.equal(two.isOnline, true);
    closeSocket(tab1.socket);
    assert.equal((await watcher.log.nextStatus(bob.userId)).connections, 1, "still online through node2");
    const closedAt = Date.now();
    closeSocket(tab2.socket);
    const off = await watcher.log.nextStatus(bob.userId, GRACE_MS + 5000);
    assert.equal(off.isOnline, false);
    assert.equal(off.connections, 0);
    assert.ok(off.at - closedAt >= GRACE_MS - 50, "offline only after the grace period");
  });

  it("a status set on one node reaches a watcher on another", async () => {
    const { cluster } = env();
    const ann = newUser("Ann");
    const watcher = await presenceOn(cluster, 0, "websocket", newUser("Watcher"));
    await ok(watcher, "subscribe", { userIds: [ann.userId] });
    const tab = await presenceOn(cluster, 1, "websocket", ann);
    assert.equal((await watcher.log.nextStatus(ann.userId)).status, "online");
    await ok(tab, "setStatus", { status: "busy" });
    assert.equal((await watcher.log.nextStatus(ann.userId)).status, "busy");
  });

  it("a subscriber on one node gets a snapshot that counts the user's sockets on every node", async () => {
    const { cluster } = env();
    const cat = newUser("Cat");
    await presenceOn(cluster, 0, "websocket", cat);
    await presenceOn(cluster, 1, "websocket", cat);
    const watcher = await presenceOn(cluster, 2, "websocket", newUser("Watcher"));
    const snap = await ok(watcher, "subscribe", { userIds: [cat.userId] });
    assert.equal(snap.users[0]?.isOnline, true);
    assert.equal(snap.users[0]?.connections, 2);
  });

  it("the users of a node killed with SIGKILL go offline on the other nodes within 30 s plus the grace period", { timeout: DEAD_NODE_MS + 15_000 }, async () => {
    const { cluster } = env();
    const dan = newUser("Dan");
    const watcher = await presenceOn(cluster, 0, "websocket", newUser("Watcher"));
    await ok(watcher, "subscribe", { userIds: [dan.userId] });
    await presenceOn(cluster, 2, "websocket", dan);
    assert.equal((await watcher.log.nextStatus(dan.userId)).isOnline, true);
    const killedAt = Date.now();
    await cluster.nodes[2]!.kill();
    const off = await watcher.log.nextStatus(dan.userId, DEAD_NODE_MS + 2000);
    assert.equal(off.isOnline, false);
    assert.ok(off.at - killedAt <= DEAD_NODE_MS, `offline ${off.at - killedAt} ms after the kill`);
    assertNodesRunning(cluster, [2]);
  });
});

describe("rooms and feeds across nodes", () => {
  // Runs after the kill above: two nodes are left, node1 and node2.
  it("joinRoom's member list names the members on every node", async () => {
    const { cluster } = env();
    const room = uniqueRoom("members");
    const a = await connectOn(cluster, 0, { mode: "websocket", user: chatUser("Ann") });
    const b = await connectOn(cluster, 1, { mode: "websocket", user: chatUser("Bob") });
    await chatOk(a.socket, "joinRoom", { room });
    const joined = await chatOk(b.socket, "joinRoom", { room });
    assert.deepEqual(
      joined.members.map((m) => m.id).sort(),
      [a.user.id, b.user.id].sort(),
    );
  });

  it("SSE on one node streams a message posted on another", async () => {
    const { cluster } = env();
    const room = uniqueRoom("sse");
    const poster = await connectOn(cluster, 0, { mode: "websocket", user: chatUser("Ann") });
    await chatOk(poster.socket, "joinRoom", { room });
    let stream: SSEClient | undefined;
    for (let attempt = 0; attempt < 12 && !stream; attempt++) {
      const s = await SSEClient.open(`${cluster.url}/sse/rooms/${room}`);
      if (s.res.headers.get("x-parley-node") === "node2") stream = s;
      else s.close();
    }
    assert.ok(stream, "an SSE stream on node2");
    const msg = await send(poster, room, "to the feed");
    const ev = await stream.next(["newChatMessage"]);
    assert.equal((JSON.parse(ev.data) as { id: string }).id, msg.id);
  });
});
