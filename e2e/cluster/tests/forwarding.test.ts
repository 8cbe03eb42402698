// No sticky sessions (issue 11 §4): two real bin/parley nodes on one
// redis-server behind a real HAProxy with `balance roundrobin` and no
// stickiness, so a session's requests land on either node and the node
// that does not own the session forwards them. The stock socket.io-client
// v4 over long-polling only, WebSocket only, and polling with the upgrade:
// it connects, joins a room and posts with acks, and every member on
// either node gets every message exactly once. The nodes' forwarding
// counters (/metrics) show that requests really crossed.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createClient } from "redis";
import { io, type Socket } from "socket.io-client";
import { startHAProxy, startRedis, type Proc, type Redis } from "../harness.ts";
import { startParley, type Parley } from "../../support/parley.ts";
import { within } from "../../support/within.ts";

const WAIT_MS = 15_000;

type Mode = "polling" | "websocket" | "upgrade";

interface Member {
  readonly socket: Socket;
  readonly user: string;
  /** Disconnections the test did not ask for. */
  readonly dropped: string[];
}

interface Ack<T> {
  ok: boolean;
  data: T;
  error?: unknown;
}

interface ChatMessage {
  id: string;
  room: string;
  content: string;
  sender: { id: string; name: string };
}

let userSeq = 0;

async function member(url: string, mode: Mode): Promise<Member> {
  const user = `u${++userSeq}-${mode}`;
  const socket = io(`${url}/chat`, {
    transports: mode === "polling" ? ["polling"] : mode === "websocket" ? ["websocket"] : ["polling", "websocket"],
    upgrade: mode === "upgrade",
    forceNew: true,
    reconnection: false,
    auth: { userId: user, name: user },
  });
  const dropped: string[] = [];
  socket.on("disconnect", (reason) => {
    if (reason !== "io client disconnect") dropped.push(reason);
  });
  await within(
    new Promise<void>((resolve, reject) => {
      socket.once("connect", () => resolve());
      socket.once("connect_error", reject);
    }),
    WAIT_MS,
    `${user} connects`,
  );
  const engine = socket.io.engine;
  if (mode === "upgrade" && engine.transport.name !== "websocket") {
    await within(new Promise((resolve) => engine.once("upgrade", resolve)), WAIT_MS, `${user} upgrades`);
  }
  assert.equal(engine.transport.name, mode === "polling" ? "polling" : "websocket");
  return { socket, user, dropped };
}

/** Reads a counter or gauge of a node's /metrics, by its full series name. */
async function metric(node: Parley, series: string): Promise<number> {
  const text = await (await fetch(`${node.url}/metrics`)).text();
  for (const line of text.split("\n")) {
    if (line.startsWith(series + " ")) return Number(line.slice(series.length + 1));
  }
  return 0;
}

const forwarded = (node: Parley, transport: "polling" | "websocket") =>
  metric(node, `parley_forwarded_requests_total{transport="${transport}"}`);

/**
 * Every member joins room and posts perMember messages with acks, then an
 * end marker; resolves once every member has every other member's marker,
 * and checks that each got each message of the others exactly once (a
 * sender's messages arrive in order, so nothing can follow its marker).
 */
async function exchange(members: Member[], room: string, perMember: number): Promise<void> {
  for (const m of members) {
    const ack = (await m.socket.timeout(WAIT_MS).emitWithAck("joinRoom", { room })) as Ack<unknown>;
    assert.equal(ack.ok, true, `${m.user} joins: ${JSON.stringify(ack)}`);
  }
  const seen = members.map(() => new Map<string, number>());
  const ended = members.map(
    (m, i) =>
      new Promise<void>((resolve) => {
        const ends = new Set<string>();
        m.socket.on("newChatMessage", (msg: ChatMessage) => {
          if (msg.room !== room) return;
          if (msg.content === "end") {
            ends.add(msg.sender.id);
            if (ends.size === members.length - 1) resolve();
            return;
          }
          seen[i]!.set(msg.id, (seen[i]!.get(msg.id) ?? 0) + 1);
        });
      }),
  );
  const sent = await Promise.all(
    members.map(async (m) => {
      const ids: string[] = [];
      for (let k = 0; k < perMember; k++) {
        const ack = (await m.socket.timeout(WAIT_MS).emitWithAck("chatMessage", { room, content: `${m.user} #${k}` })) as Ack<ChatMessage>;
        assert.equal(ack.ok, true, `${m.user} posts: ${JSON.stringify(ack)}`);
        ids.push(ack.data.id);
      }
      const end = (await m.socket.timeout(WAIT_MS).emitWithAck("chatMessage", { room, content: "end" })) as Ack<ChatMessage>;
      assert.equal(end.ok, true);
      return ids;
    }),
  );
  await within(Promise.all(ended), WAIT_MS, `every member of ${room} gets every end marker`);
  members.forEach((m, i) => {
    const want = sent.filter((_, j) => j !== i).flat().sort();
    assert.deepEqual([...seen[i]!.keys()].sort(), want, `${m.user} got every other member's messages`);
    for (const [id, n] of seen[i]!) assert.equal(n, 1, `${m.user} got ${id} ${n} times`);
    assert.deepEqual(m.dropped, [], `${m.user} was not disconnected`);
  });
}

describe("no sticky sessions: HAProxy round-robin in front of two Parley nodes", () => {
  let redis: Redis;
  let nodes: Parley[] = [];
  let lb: Proc;
  const sockets: Socket[] = [];
  const open = async (mode: Mode) => {
    const m = await member(lb.url, mode);
    sockets.push(m.socket);
    return m;
  };
  const total = async (transport: "polling" | "websocket") =>
    (await Promise.all(nodes.map((n) => forwarded(n, transport)))).reduce((a, b) => a + b, 0);

  before(async () => {
    redis = await startRedis();
    nodes = await Promise.all([
      startParley({ args: ["--redis-url", redis.url] }),
      startParley({ args: ["--redis-url", redis.url] }),
    ]);
    // Each node derives its cluster address from --addr 127.0.0.1:<port>
    // and registers it; wait until both entries are in Redis.
    const client = createClient({ url: redis.url });
    await client.connect();
    try {
      const deadline = Date.now() + WAIT_MS;
      for (;;) {
        const keys = await client.keys("socket.io-node#*");
        const values = keys.length === 2 ? await client.mGet(keys) : [];
        if (values.length === 2 && values.every((v) => v?.includes('"addr":"127.0.0.1:'))) break;
        if (Date.now() > deadline) throw new Error(`node registry: ${JSON.stringify(values)}`);
        await new Promise((r) => setTimeout(r, 20)); // polling interval of the readiness probe
      }
    } finally {
      await client.quit();
    }
    lb = await startHAProxy(nodes.map((n) => n.url.replace("http://", "")));
  });

  after(async () => {
    for (const s of sockets) s.disconnect();
    await lb?.stop();
    await Promise.all(nodes.map((n) => n.dispose()));
    await redis?.stop();
  });

  test("long-polling only: every second request is forwarded to the session's node", async () => {
    const before = await Promise.all(nodes.map((n) => forwarded(n, "polling")));
    const members = await Promise.all([open("polling"), open("polling"), open("polling"), open("polling")]);
    // The sid starts with its node's id: go on until both nodes own one
    // (bounded), so that each has the other's requests to forward.
    const owners = () => new Set(members.map((m) => m.socket.io.engine.id.slice(0, 6)));
    while (owners().size < 2) {
      assert.ok(members.length < 30, "every session landed on one node");
      members.push(await open("polling"));
    }
    await exchange(members, "room:polling", 5);
    const after = await Promise.all(nodes.map((n) => forwarded(n, "polling")));
    const delta = after.map((v, i) => v - before[i]!);
    // Each member made a dozen requests or more, alternating between the nodes.
    assert.ok(
      delta.every((d) => d > 0) && delta.reduce((a, b) => a + b, 0) >= members.length,
      `polling requests forwarded per node: ${delta.join(", ")}`,
    );
    console.log(`${members.length} sessions; polling requests forwarded per node: ${delta.join(", ")}`);
  });

  test("WebSocket only: one connection per session, on alternating nodes, broadcasts cross", async () => {
    const members: Member[] = [];
    for (let i = 0; i < 4; i++) members.push(await open("websocket")); // in turn: round-robin alternates them
    const perNode = await Promise.all(nodes.map((n) => metric(n, 'parley_connected_clients{transport="websocket"}')));
    assert.ok(perNode.every((c) => c >= 1), `WebSocket connections per node: ${perNode.join(", ")}`);
    await exchange(members, "room:websocket", 5);
  });

  test("polling with the upgrade: upgrades landing on the other node are relayed", async () => {
    const before = await total("websocket");
    const members: Member[] = [];
    // Each upgrade lands on the other node about every second time: go
    // on until one did (bounded), with at least four members.
    while (members.length < 4 || (await total("websocket")) === before) {
      assert.ok(members.length < 30, "no upgrade landed on the other node in 30 sessions");
      members.push(await open("upgrade"));
    }
    await exchange(members, "room:upgrade", 3);
    const perNode = await Promise.all(nodes.map((n) => forwarded(n, "websocket")));
    console.log(`${members.length} sessions; upgrades relayed per node: ${perNode.join(", ")}`);
  });

  test("all three kinds in one room", async () => {
    const members = [
      await open("polling"),
      await open("websocket"),
      await open("upgrade"),
      await open("polling"),
      await open("websocket"),
      await open("upgrade"),
    ];
    await exchange(members, "room:mixed", 4);
    const failures = await Promise.all(
      nodes.flatMap((n) => [
        metric(n, 'parley_forward_failures_total{reason="unknown_owner"}'),
        metric(n, 'parley_forward_failures_total{reason="unreachable"}'),
      ]),
    );
    assert.deepEqual(failures, [0, 0, 0, 0], "no forwarding failed");
  });
});
