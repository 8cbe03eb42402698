// The failover scenario of e2e/ha (tests/failover.test.ts): four clients
// in a room, on three nodes behind HAProxy; three of them send, each
// message until acked (resent with its clientMsgId when no ack comes, as a
// client's outbox does); the node of two of them is killed with SIGKILL
// mid-traffic; its clients reconnect through the balancer, join again and
// fetch the history.

import assert from "node:assert/strict";
import type { Socket } from "socket.io-client";
import type { ChatMessage, Result } from "../../client-js/src/generated/events.ts";
import { newUser, ok, uniqueRoom, within, type ChatClient, type Mode } from "../chat/client.ts";
import { assertNodesRunning, connectOn } from "./client.ts";
import type { Cluster } from "./cluster.ts";
import { LB_MODE } from "./lb.ts";

/** Flags of the scenario's nodes: it is about failover, and its senders send as fast as acks come (the limits have their own suite). */
export const FAILOVER_ARGS = ["--rate-limits", "chatMessage=0:0,joinRoom=0:0,fetchHistory=0:0"];

/** Messages each sender sends. */
const PER_SENDER = 30;
/** Messages acknowledged (all senders) before the node is killed. */
const KILL_AFTER = 20;
/** Index of the node that is killed. */
export const VICTIM = 1;
const ACK_MS = 2000;
const SETTLE_MS = 15_000;

/** A client's view of the room, as a chat page keeps it: by message id. */
export class Viewer {
  readonly screen = new Map<string, ChatMessage>();
  /** Ids of every newChatMessage, in arrival order (a duplicate delivery shows here). */
  readonly delivered: string[] = [];
  readonly reconnects: number[] = [];
  /** Resolves at the client's first reconnection. */
  readonly reconnected: Promise<void>;
  #onReconnect: () => void = () => undefined;
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
      this.#onReconnect();
    });
    this.reconnected = new Promise((resolve) => (this.#onReconnect = resolve));
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

export interface Outcome {
  room: string;
  viewers: { ann: Viewer; bob: Viewer; cat: Viewer; dan: Viewer };
  /** What PostgreSQL holds for the room, in id order. */
  stored: { id: string; content: string }[];
}

/**
 * Runs the scenario on cluster and asserts what holds whatever the timing:
 * the kill landed mid-traffic; Ann and Bob (on the killed node) reconnected
 * through HAProxy to a live node, Cat and Dan never disconnected (behind a
 * sticky balancer; round-robin may relay their traffic through the victim,
 * so they may reconnect once); every
 * acknowledged message is in PostgreSQL once, with the id its ack gave, and
 * nothing else is; no client got a newChatMessage twice or one that was
 * not stored. Resolves once every sender's last message reached every
 * client live, so that nothing is still in flight.
 */
export async function runFailover(cluster: Cluster): Promise<Outcome> {
  const room = uniqueRoom("failover");
  const place: [string, Mode, number][] = [
    ["Ann", "websocket", VICTIM], // sender on the victim
    ["Bob", "polling", VICTIM], // reader on the victim, over long-polling
    ["Cat", "websocket", 0],
    ["Dan", "upgrade", 2],
  ];
  const all: Viewer[] = [];
  for (const [name, mode, node] of place) {
    const c = await connectOn(cluster, node, {
      mode,
      user: newUser(name),
      reconnection: true,
      extra: { reconnectionDelay: 100, reconnectionDelayMax: 500 },
    });
    await ok(c.socket, "joinRoom", { room });
    all.push(new Viewer(c, room));
  }
  const [ann, bob, cat, dan] = all as [Viewer, Viewer, Viewer, Viewer];
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
  const senders = [ann, cat, dan];
  await Promise.all(senders.map((v) => sendAll(v, acked, onAck)));
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
    // The node logs the connection before the client has its CONNECT.
    await within(v.reconnected, SETTLE_MS, `${v.c.user.name}'s reconnection`);
  }
  assert.equal(cluster.nodes[VICTIM]!.exit()?.signal, "SIGKILL");
  if (LB_MODE === "sticky") {
    assert.deepEqual([cat.reconnects.length, dan.reconnects.length], [0, 0], "Cat and Dan never reconnected");
  } else {
    // Round-robin: a poll of Cat's or Dan's that the balancer had sent to
    // the victim, or an upgraded WebSocket it relayed to their node, dies
    // with it, so they may reconnect (once at most); their views are
    // checked below like everyone's.
    assert.ok(cat.reconnects.length <= 1 && dan.reconnects.length <= 1, "Cat and Dan reconnected at most once");
  }
  assertNodesRunning(cluster, [VICTIM]);

  // A last message from each sender, each on a live node now: a node's
  // broadcasts reach another node in order, so once a client has all
  // three, every earlier broadcast has reached it.
  const ends = await Promise.all(
    senders.map((v) => ok(v.c.socket, "chatMessage", { room, content: `end-${v.c.user.name}` })),
  );
  for (const v of senders) v.screen.set(ends[senders.indexOf(v)]!.id, ends[senders.indexOf(v)]!);
  for (const v of all) {
    for (const end of ends) {
      if (v.screen.has(end.id)) continue;
      await within(
        new Promise<void>((resolve) => {
          const on = (m: ChatMessage) => {
            if (m.id !== end.id) return;
            v.c.socket.off("newChatMessage", on);
            resolve();
          };
          v.c.socket.on("newChatMessage", on);
          if (v.screen.has(end.id)) resolve();
        }),
        SETTLE_MS,
        `${end.content} at ${v.c.user.name}`,
      );
    }
    await within(v.ready(), SETTLE_MS, `${v.c.user.name} caught up`);
  }

  // PostgreSQL: every acknowledged message once, and nothing else.
  const rows = await cluster.postgres.query(`SELECT id, content FROM messages WHERE room = '${room}' ORDER BY id`);
  const stored = rows.map((r) => {
    const [id, content] = r.split("|");
    return { id: id!, content: content! };
  });
  const contents = stored.map((s) => s.content);
  assert.equal(new Set(contents).size, contents.length, "no message is stored twice");
  assert.equal(stored.length, 3 * PER_SENDER + ends.length, "every message was stored");
  assert.deepEqual(
    stored.map((s) => s.id),
    [...acked, ...ends].map((m) => m.id).sort(),
    "the stored messages are exactly the acknowledged ones, with the ids the acks gave",
  );
  const storedIds = new Set(stored.map((s) => s.id));
  for (const v of all) {
    assert.equal(new Set(v.delivered).size, v.delivered.length, `${v.c.user.name} got no newChatMessage twice`);
    assert.ok(
      v.delivered.every((id) => storedIds.has(id)),
      `${v.c.user.name} got only stored messages`,
    );
  }
  return { room, viewers: { ann, bob, cat, dan }, stored };
}

/** The contents of the stored messages missing from a client's view. */
export function missing(o: Outcome, v: Viewer): string[] {
  return o.stored.filter((s) => !v.screen.has(s.id)).map((s) => s.content);
}
