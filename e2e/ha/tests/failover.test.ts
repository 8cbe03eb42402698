// A node dies (SIGKILL) mid-traffic behind HAProxy. Its clients, one over
// WebSocket and one over long-polling, reconnect through the balancer to a
// live node (proved by the nodes' logs); senders on every node keep
// resending each unacknowledged message with its clientMsgId until it is
// acked, as a client's outbox does. Afterwards PostgreSQL holds every
// acknowledged message exactly once, and every client's view (live
// newChatMessage plus the history it fetches after a reconnect) is exactly
// that history: nothing acknowledged is lost or doubled.

import assert from "node:assert/strict";
import { it } from "node:test";
import type { Socket } from "socket.io-client";
import type { ChatMessage, Result } from "../../../client-js/src/generated/events.ts";
import { newUser, ok, uniqueRoom, useClientCleanup, within, type ChatClient, type Mode } from "../../chat/client.ts";
import { assertNodesRunning, connectOn, useCluster } from "../client.ts";

// The rate limits are off: this file is about failover, and its senders
// send as fast as acks come (the limits have their own suite).
const env = useCluster({ args: ["--rate-limits", "chatMessage=0:0,joinRoom=0:0,fetchHistory=0:0"] });
useClientCleanup();

/** Messages each sender sends. */
const PER_SENDER = 30;
/** Messages acknowledged (all senders) before the node is killed. */
const KILL_AFTER = 20;
/** Index of the node that is killed. */
const VICTIM = 1;
const ACK_MS = 2000;
const SETTLE_MS = 15_000;

/** A client's view of the room, as a chat page keeps it: by message id. */
class Viewer {
  readonly screen = new Map<string, ChatMessage>();
  /** Ids of every newChatMessage, in arrival order (a duplicate delivery shows here). */
  readonly delivered: string[] = [];
  readonly reconnects: number[] = [];
  #ready: Promise<void> = Promise.resolve();

  constructor(
    readonly c: ChatClient,
    readonly room: string,
  ) {
    c.socket.on("newChatMessage", (m: ChatMessage) => {
      if (m.room !== room) return;
      this.delivered.push(m.id);
      this.screen.set(m.id, m);
    });
    // After a reconnection (on another node, a new session) the client
    // joins again and fetches what it missed, after the newest it has.
    c.socket.on("connect", () => {
      this.reconnects.push(Date.now());
      this.#ready = this.#resync();
    });
    c.socket.on("disconnect", () => {
      this.#ready = new Promise((resolve) => c.socket.once("connect", () => setImmediate(() => resolve(this.#ready))));
    });
  }

  /** Resolves once the client is connected, in the room and caught up. */
  ready(): Promise<void> {
    return this.#ready;
  }

  async #resync(): Promise<void> {
    await ok(this.c.socket, "joinRoom", { room: this.room });
    // The newest page holds this test's whole room. (A client resuming
    // "after the newest id it has" could skip a message: messages committed
    // on different nodes may arrive out of id order.)
    const page = await ok(this.c.socket, "fetchHistory", { room: this.room, limit: 200 });
    assert.equal(page.hasMore, false);
    for (const m of page.messages) this.screen.set(m.id, m);
  }

  ids(): string[] {
    return [...this.screen.keys()].sort();
  }
}

/**
 * Sends PER_SENDER messages in order, each until acked: an ack that does
 * not come (the node died) or an error (the new session has not joined
 * yet) means: wait for the connection, send again with the same clientMsgId.
 */
async function sendAll(v: Viewer, acked: ChatMessage[], onAck: () => void): Promise<void> {
  const name = v.c.user.name;
  const errors: string[] = [];
  for (let k = 0; k < PER_SENDER; k++) {
    const content = `${name}-${k}`;
    for (let attempt = 0; ; attempt++) {
      assert.ok(attempt < 20, `${content} never acked (errors: ${errors.join(", ")})`);
      await within(v.ready(), SETTLE_MS, `${name} reconnected`);
      let res: Result<ChatMessage>;
      try {
        res = await (v.c.socket as unknown as Socket)
          .timeout(ACK_MS)
          .emitWithAck("chatMessage", { room: v.room, content, clientMsgId: content });
      } catch {
        continue; // no ack: the connection is gone; resend once back
      }
      if (!res.ok) {
        errors.push(`${content}: ${res.error.code}`);
        continue; // e.g. not in the room yet on a new node
      }
      assert.equal(res.data.content, content);
      acked.push(res.data);
      v.screen.set(res.data.id, res.data);
      onAck();
      break;
    }
  }
}

it("a node killed with SIGKILL mid-traffic: its clients reconnect through HAProxy to another node, nothing acknowledged is lost or doubled", async () => {
  const { cluster } = env();
  const room = uniqueRoom("failover");
  const place: [string, Mode, number][] = [
    ["Ann", "websocket", VICTIM], // sender on the victim
    ["Bob", "polling", VICTIM], // reader on the victim, over long-polling
    ["Cat", "websocket", 0],
    ["Dan", "upgrade", 2],
  ];
  const viewers: Viewer[] = [];
  for (const [name, mode, node] of place) {
    const c = await connectOn(cluster, node, {
      mode,
      user: newUser(name),
      reconnection: true,
      extra: { reconnectionDelay: 100, reconnectionDelayMax: 500 },
    });
    await ok(c.socket, "joinRoom", { room });
    viewers.push(new Viewer(c, room));
  }
  const [ann, bob, cat, dan] = viewers as [Viewer, Viewer, Viewer, Viewer];
  const before = [ann, bob].map((v) => cluster.counts(v.c.user.id));

  const acked: ChatMessage[] = [];
  let killedAt = -1;
  let killing: Promise<void> | undefined;
  const onAck = () => {
    if (acked.length === KILL_AFTER && !killing) {
      killedAt = acked.length;
      killing = cluster.nodes[VICTIM]!.kill();
    }
  };
  await Promise.all([ann, cat, dan].map((v) => sendAll(v, acked, onAck)));
  await killing;
  assert.ok(killedAt > 0 && acked.length > killedAt, "the node died mid-traffic");
  assert.ok(
    acked.slice(killedAt).some((m) => m.sender.id === ann.c.user.id),
    "Ann, whose node died, got acks after the kill",
  );

  // Ann and Bob reconnected through HAProxy, to a live node.
  for (const [i, v] of [ann, bob].entries()) {
    const on = await cluster.waitConnected(v.c.user.id, before[i]);
    assert.notEqual(on, VICTIM, `${v.c.user.name} reconnected to a live node`);
    assert.ok(v.reconnects.length >= 1, `${v.c.user.name} reconnected`);
  }
  assert.equal(cluster.nodes[VICTIM]!.exit()?.signal, "SIGKILL");
  // Cat's and Dan's nodes lived: their views below are live deliveries only.
  assert.deepEqual([cat.reconnects.length, dan.reconnects.length], [0, 0], "Cat and Dan never reconnected");
  assertNodesRunning(cluster, [VICTIM]);

  // PostgreSQL: every acknowledged message once, and nothing else.
  const rows = await cluster.postgres.query(`SELECT id, content FROM messages WHERE room = '${room}' ORDER BY id`);
  const stored = rows.map((r) => {
    const [id, content] = r.split("|");
    return { id: id!, content: content! };
  });
  const contents = stored.map((s) => s.content);
  assert.equal(new Set(contents).size, contents.length, "no message is stored twice");
  assert.equal(stored.length, 3 * PER_SENDER, "every message was stored");
  assert.deepEqual(
    stored.map((s) => s.id),
    acked.map((m) => m.id).sort(),
    "the stored messages are exactly the acknowledged ones, with the ids the acks gave",
  );

  // Every client's view converges to exactly that history, and no
  // message was delivered to a client twice.
  const want = stored.map((s) => s.id);
  for (const v of viewers) {
    const deadline = Date.now() + SETTLE_MS;
    await within(v.ready(), SETTLE_MS, `${v.c.user.name} caught up`);
    while (v.ids().length < want.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50)); // polls the view until a deadline
    assert.deepEqual(v.ids(), want, `${v.c.user.name} sees every message once`);
    assert.equal(new Set(v.delivered).size, v.delivered.length, `${v.c.user.name} got no newChatMessage twice`);
  }
});
