// The application across two Parley nodes (real bin/parley --redis-url on
// one redis-server, real socket.io-client): a user with tabs on both nodes
// is one user whose connections are all counted, chat events cross nodes,
// and when a node is killed with SIGKILL its users leave their rooms and
// go offline on the other node within the stated bound (here configured
// short: --node-ttl 2s, --presence-grace 500ms: 3.8 s + 0.5 s).

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { io, type Socket } from "socket.io-client";
import { startRedis, type Redis } from "../harness.ts";
import { startParley, type Parley } from "../../support/parley.ts";
import { within } from "../../support/within.ts";

const WAIT_MS = 10_000;
const NODE_TTL_MS = 2000; // above any scheduling delay of a loaded machine: a live node must never look dead
const GRACE_MS = 500;
/** Detection (redisadapter.Liveness.DetectionBound: TTL + 2 scans of TTL/4 + 2 renewals of TTL/5) plus the grace period. */
const DETECTION_MS = NODE_TTL_MS * 1.9;
const OFFLINE_BOUND_MS = DETECTION_MS + GRACE_MS;
/** Scheduling slack of a loaded CI machine on top of the bound. */
const SLACK_MS = 2000;

interface Ack<T> {
  ok: boolean;
  data?: T;
  error?: { code: string; message: string };
}

interface PresenceState {
  userId: string;
  isOnline: boolean;
  status: string;
  connections: number;
  lastSeen: number;
}

interface RoomUser {
  room: string;
  user: { id: string; name: string };
}

/** A socket whose events of interest are queued, so none is missed between awaits. */
class Client {
  private readonly queues = new Map<string, unknown[]>();
  private readonly waiters = new Map<string, ((v: unknown) => void)[]>();

  constructor(readonly socket: Socket) {
    socket.onAny((event: string, arg: unknown) => {
      const w = this.waiters.get(event);
      if (w && w.length > 0) {
        w.shift()!(arg);
        return;
      }
      const q = this.queues.get(event) ?? [];
      q.push(arg);
      this.queues.set(event, q);
    });
  }

  next<T>(event: string): Promise<T> {
    const q = this.queues.get(event);
    if (q && q.length > 0) return Promise.resolve(q.shift() as T);
    return within(
      new Promise<T>((resolve) => {
        const w = this.waiters.get(event) ?? [];
        w.push((v) => resolve(v as T));
        this.waiters.set(event, w);
      }),
      WAIT_MS,
      `${event} on ${this.socket.id}`,
    );
  }

  /** The next event whose payload matches. */
  async until<T>(event: string, match: (v: T) => boolean): Promise<T> {
    for (;;) {
      const v = await this.next<T>(event);
      if (match(v)) return v;
    }
  }

  pending(event: string): number {
    return this.queues.get(event)?.length ?? 0;
  }

  async call<T>(event: string, arg: unknown): Promise<T> {
    const ack = (await this.socket
      .timeout(WAIT_MS)
      .emitWithAck(event, arg)) as Ack<T>;
    assert.equal(ack.ok, true, `${event}: ${JSON.stringify(ack.error)}`);
    return ack.data as T;
  }
}

/** Polls watcher's snapshot of room until userId is in it (another node's records arrived). */
async function waitMember(
  watcher: Client,
  room: string,
  userId: string,
): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const snap = await watcher.call<{ users: PresenceState[] }>("subscribe", {
      userIds: [],
      rooms: [room],
    });
    if (snap.users.some((u) => u.userId === userId && u.isOnline)) return;
    assert.ok(Date.now() < deadline, `${userId} never showed in ${room}`);
    await new Promise((resolve) => setTimeout(resolve, 20)); // polling interval, not synchronisation
  }
}

async function connect(
  url: string,
  nsp: string,
  userId: string,
): Promise<Client> {
  const socket = io(`${url}${nsp}`, {
    transports: ["websocket"],
    forceNew: true,
    reconnection: false,
    auth: { userId, name: userId },
  });
  const client = new Client(socket);
  await within(
    new Promise<void>((resolve, reject) => {
      socket.once("connect", () => resolve());
      socket.once("connect_error", reject);
    }),
    WAIT_MS,
    `${userId} connects to ${nsp}`,
  );
  return client;
}

describe("the application on two Parley nodes", () => {
  let redis: Redis;
  let a: Parley;
  let b: Parley;
  const sockets: Socket[] = [];
  const track = (c: Client) => {
    sockets.push(c.socket);
    return c;
  };

  before(async () => {
    redis = await startRedis();
    const args = [
      "--redis-url",
      redis.url,
      "--node-ttl",
      `${NODE_TTL_MS}ms`,
      "--presence-grace",
      `${GRACE_MS}ms`,
    ];
    [a, b] = await Promise.all([startParley({ args }), startParley({ args })]);
  });

  after(async () => {
    for (const s of sockets) s.disconnect();
    await Promise.all([a?.dispose(), b?.dispose()]);
    await redis?.stop();
  });

  test("tabs on two nodes are one user; chat crosses nodes; a killed node's users go offline within the bound", async () => {
    const room = `app:${process.pid}`;
    const watcher = track(await connect(b.url, "/presence", "watcher"));
    await watcher.call("subscribe", { userIds: ["alice"], rooms: [] });
    const bob = track(await connect(b.url, "/chat", "bob"));
    await bob.call("joinRoom", { room });

    const watcherA = track(await connect(a.url, "/presence", "watcher-a"));
    await waitMember(watcherA, room, "bob");

    // alice: a chat tab on node a, a presence tab on node b.
    const aliceChat = track(await connect(a.url, "/chat", "alice"));
    const online = await watcher.until<PresenceState>(
      "status",
      (s) => s.userId === "alice",
    );
    assert.equal(online.isOnline, true);
    await track(await connect(b.url, "/presence", "alice"));
    const both = await watcher.until<PresenceState>(
      "status",
      (s) => s.userId === "alice",
    );
    assert.equal(both.connections, 2, "connections on both nodes counted");

    const joined = await aliceChat.call<{ members: { id: string }[] }>(
      "joinRoom",
      { room },
    );
    const ru = await bob.next<RoomUser>("userJoined");
    assert.equal(ru.user.id, "alice");
    assert.ok(
      joined.members.some((m) => m.id === "bob"),
      `joinRoom ack on a lists bob, who is on b: ${JSON.stringify(joined.members)}`,
    );
    const sent = await aliceChat.call<{ id: string }>("chatMessage", {
      room,
      content: "before the kill",
    });
    const got = await bob.next<{ id: string }>("newChatMessage");
    assert.equal(got.id, sent.id);
    // The HTTP publish API of node b reaches alice on node a.
    const published = (await b.publish(room, "from the API on b")) as {
      id: string;
    };
    assert.equal(
      (await aliceChat.next<{ id: string }>("newChatMessage")).id,
      published.id,
    );
    assert.equal(
      (await bob.next<{ id: string }>("newChatMessage")).id,
      published.id,
    );
    aliceChat.socket.emit("typing", { room, isTyping: true });
    const typing = await bob.next<{ user: { id: string }; isTyping: boolean }>(
      "typing",
    );
    assert.equal(typing.user.id, "alice");

    // SIGKILL node a: no shutdown, its records stay in Redis. alice's
    // presence tab on b keeps her online; her chat tab's room goes.
    const killed = Date.now();
    await a.kill();
    const left = await within(
      bob.next<RoomUser>("userLeft"),
      DETECTION_MS + SLACK_MS,
      "userLeft after the kill",
    );
    assert.equal(left.user.id, "alice");
    const fewer = await watcher.until<PresenceState>(
      "status",
      (s) => s.userId === "alice",
    );
    assert.equal(fewer.isOnline, true, "still online through the tab on b");
    assert.equal(fewer.connections, 1);
    const elapsed = Date.now() - killed;
    assert.ok(
      elapsed <= OFFLINE_BOUND_MS + SLACK_MS,
      `the death took ${elapsed} ms to notice`,
    );
    assert.equal(bob.pending("userLeft"), 0, "userLeft once");
  });

  test("a user only on the killed node goes offline on the other node within the bound", async () => {
    const c = await startParley({
      args: [
        "--redis-url",
        redis.url,
        "--node-ttl",
        `${NODE_TTL_MS}ms`,
        "--presence-grace",
        `${GRACE_MS}ms`,
      ],
    });
    try {
      const watcher = track(await connect(b.url, "/presence", "watcher2"));
      await watcher.call("subscribe", { userIds: ["carol"], rooms: [] });
      track(await connect(c.url, "/chat", "carol"));
      const on = await watcher.until<PresenceState>(
        "status",
        (s) => s.userId === "carol",
      );
      assert.equal(on.isOnline, true);
      const killed = Date.now();
      await c.kill();
      const off = await within(
        watcher.until<PresenceState>("status", (s) => s.userId === "carol"),
        OFFLINE_BOUND_MS + SLACK_MS,
        "carol offline after the kill",
      );
      const elapsed = Date.now() - killed;
      assert.equal(off.isOnline, false);
      assert.equal(off.status, "offline");
      assert.ok(
        elapsed >= GRACE_MS,
        `offline after ${elapsed} ms: the grace period comes first`,
      );
      assert.ok(
        elapsed <= OFFLINE_BOUND_MS + SLACK_MS,
        `offline after ${elapsed} ms; bound ${OFFLINE_BOUND_MS} ms`,
      );
    } finally {
      await c.dispose();
    }
  });
});

describe("--max-connections-per-user on two Parley nodes", () => {
  let redis: Redis;
  let nodes: Parley[] = [];

  before(async () => {
    redis = await startRedis();
    const args = ["--redis-url", redis.url, "--max-connections-per-user", "2"];
    nodes = await Promise.all([startParley({ args }), startParley({ args })]);
  });

  after(async () => {
    await Promise.all(nodes.map((n) => n.dispose()));
    await redis?.stop();
  });

  test("holds cluster-wide: a third connection is refused on either node", async () => {
    const [a, b] = nodes as [Parley, Parley];
    const first = await connect(a.url, "/chat", "dave");
    const second = await connect(b.url, "/presence", "dave");
    try {
      // Node b counts dave's connection on a once a's record arrived: its
      // /presence socket's own state says so.
      const own = await second.until<PresenceState>(
        "status",
        (s) => s.userId === "dave" && s.connections === 2,
      );
      assert.equal(own.connections, 2);
      // Node a too: a watcher's snapshot there shows both.
      const watcher = await connect(a.url, "/presence", "watcher");
      try {
        const deadline = Date.now() + WAIT_MS;
        for (;;) {
          const snap = await watcher.call<{ users: PresenceState[] }>(
            "subscribe",
            { userIds: ["dave"], rooms: [] },
          );
          if (snap.users[0]?.connections === 2) break;
          assert.ok(
            Date.now() < deadline,
            `node a counts ${snap.users[0]?.connections} connections of dave`,
          );
          await new Promise((resolve) => setTimeout(resolve, 20)); // polling interval, not synchronisation
        }
      } finally {
        watcher.socket.disconnect();
      }
      for (const [name, url] of [
        ["a", a.url],
        ["b", b.url],
      ] as const) {
        await assert.rejects(
          connect(url, "/chat", "dave"),
          /rate_limited|at most 2 connections/,
          `third connection on ${name}`,
        );
      }
    } finally {
      first.socket.disconnect();
      second.socket.disconnect();
    }
  });
});
