// Integration tests of the client against the real server (bin/parley) with
// the real socket.io-client: the queue, resends, resync and the store.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  DEFAULT_HISTORY_LIMIT,
  MAX_CONTENT_CHARS,
  MAX_HISTORY_LIMIT,
  type ChatMessage,
  type FetchHistoryResult,
} from "../src/generated/events.js";
import {
  createParleyClient,
  ParleyError,
  type ParleyClient,
  type ParleyClientOptions,
  type Transport,
} from "../src/index.js";
import { API_KEY, startParley as startServer, type Parley, type ParleyOptions } from "../../e2e/support/parley.ts";
import { startProxy } from "./support/proxy.ts";
import { eventually, until } from "./support/wait.ts";

/** bin/parley with a 1 s / 2 s heartbeat, so a lost connection shows within 3 s. */
function startParley(opts: ParleyOptions = {}): Promise<Parley> {
  return startServer({ ...opts, args: ["--ping-interval", "1s", "--ping-timeout", "2s", ...(opts.args ?? [])] });
}

const FAST_RECONNECT = { reconnectionDelay: 50, reconnectionDelayMax: 300, randomizationFactor: 0 };

let server: Parley;
const clients: ParleyClient[] = [];

before(async () => {
  server = await startParley({ args: ["--recovery-duration", "30s"] });
});
after(async () => {
  for (const c of clients) c.close();
  await server.dispose();
});

let seq = 0;
/** A room name unique to the test. */
// The ":" keeps a name from being shaped like a socket id, which the server refuses.
const roomName = (what: string) => `${what}:${process.pid}-${++seq}`;

function client(name: string, opts: Partial<ParleyClientOptions> = {}): ParleyClient {
  const c = createParleyClient({
    url: server.url,
    identity: { userId: name.toLowerCase(), name },
    ackTimeoutMs: 2000,
    manager: FAST_RECONNECT,
    ...opts,
  });
  clients.push(c);
  return c;
}

const contents = (c: ParleyClient, room: string) =>
  c.store.getState().rooms[room]?.messages.map((m) => m.content) ?? [];

async function serverHistory(url: string, room: string): Promise<ChatMessage[]> {
  const res = await fetch(`${url}/api/rooms/${room}/messages?limit=${MAX_HISTORY_LIMIT}`, {
    headers: { Authorization: `Bearer ${API_KEY}` },
  });
  assert.equal(res.status, 200);
  return ((await res.json()) as FetchHistoryResult).messages;
}

for (const transports of [["websocket"], ["polling"]] as Transport[][]) {
  describe(`two users over ${transports[0]}`, () => {
    test("join, exchange messages both ways, see members and typing", async () => {
      const room = roomName("talk");
      const alice = client("Alice", { transports });
      const bob = client("Bob", { transports, typing: { intervalMs: 100 } });
      await alice.join(room);
      const joined = await bob.join(room);
      assert.deepEqual(
        joined.members.map((u) => u.id),
        ["alice", "bob"],
      );
      await until(alice.store, (s) => s.rooms[room]?.members.length === 2, "alice sees bob join");
      assert.equal(alice.store.getState().connection.transport, transports[0]);

      // typing is volatile: one can be dropped (over polling, when no GET is
      // pending). Bob keeps typing, as a person does, until Alice sees it.
      const keys = setInterval(() => bob.typing(room), 20);
      try {
        await until(alice.store, (s) => s.rooms[room]?.typing.some((u) => u.id === "bob") === true, "bob typing");
      } finally {
        clearInterval(keys);
      }
      const sent = await bob.send(room, "  hi alice  ");
      assert.equal(sent.content, "hi alice");
      assert.equal(sent.sender.id, "bob");
      await until(alice.store, (s) => s.rooms[room]?.typing.length === 0, "typing ends with the message");
      await until(alice.store, (s) => s.rooms[room]?.messages.length === 1, "alice receives");
      await alice.send(room, "hi bob");
      await until(bob.store, (s) => s.rooms[room]?.messages.length === 2, "bob receives");
      assert.deepEqual(contents(bob, room), ["hi alice", "hi bob"]);
      assert.deepEqual(contents(alice, room), ["hi alice", "hi bob"]);
      assert.deepEqual(bob.store.getState().rooms[room]?.pending, []);

      bob.close();
      await until(alice.store, (s) => s.rooms[room]?.members.length === 1, "alice sees bob leave");
      assert.deepEqual(
        alice.store.getState().rooms[room]?.seen.map((u) => u.id),
        ["alice", "bob"],
      );
    });
  });
}

test("history pages older messages into the store, oldest first, without gaps", async () => {
  const room = roomName("paging");
  const total = DEFAULT_HISTORY_LIMIT + 10;
  for (let i = 1; i <= total; i++) await server.publish(room, `m${i}`);
  const c = client("Pager");
  const joined = await c.join(room);
  assert.equal(joined.messages.length, DEFAULT_HISTORY_LIMIT);
  assert.equal(joined.hasOlder, true);
  assert.equal(joined.messages[0]?.content, "m11");
  const page = await c.history(room, { before: joined.messages[0]!.id, limit: MAX_HISTORY_LIMIT });
  assert.equal(page.messages.length, 10);
  const r = c.store.getState().rooms[room]!;
  assert.deepEqual(
    r.messages.map((m) => m.content),
    Array.from({ length: total }, (_, i) => `m${i + 1}`),
  );
  assert.equal(r.hasOlder, false);
});

test("a refused identity: the connection reports unauthorized and operations fail", async () => {
  const c = client("Nobody", { identity: { userId: " ", name: "Nobody" } });
  const joining = c.join(roomName("refused"));
  const s = await until(c.store, (st) => st.connection.status === "disconnected", "refusal");
  assert.equal(s.connection.error?.code, "unauthorized");
  await assert.rejects(joining, (e: unknown) => e instanceof ParleyError && e.code === "unauthorized");
});

test("joining a room with a bad name rejects with bad_request and leaves no room behind", async () => {
  const c = client("Carol");
  await assert.rejects(c.join("not a room!"), (e: unknown) => e instanceof ParleyError && e.code === "bad_request");
  assert.deepEqual(Object.keys(c.store.getState().rooms), []);
  await assert.rejects(c.send("nowhere", "x"), (e: unknown) => e instanceof ParleyError && e.code === "forbidden");
  const room = roomName("empty");
  await c.join(room);
  await assert.rejects(c.send(room, "   "), (e: unknown) => e instanceof ParleyError && e.code === "bad_request");
  await assert.rejects(
    c.send(room, "x".repeat(MAX_CONTENT_CHARS + 1)),
    (e: unknown) => e instanceof ParleyError && e.code === "too_large",
  );
});

test("a brief disconnect is recovered: missed messages are replayed, nothing is re-fetched", async () => {
  const proxy = await startProxy(server.port);
  try {
    const room = roomName("recover");
    const alice = client("Alice", { url: proxy.url, transports: ["websocket"] });
    const bob = client("Bob");
    await alice.join(room);
    await bob.join(room);
    await bob.send(room, "before");
    await until(alice.store, (s) => s.rooms[room]?.messages.length === 1, "first message");
    // Everything alice sends from here on: a recovered connection re-joins
    // nothing and fetches no history.
    const sent: string[] = [];
    alice.chat.onAnyOutgoing((event: string) => sent.push(event));

    proxy.blackhole(); // alice hears nothing more, and times out
    await bob.send(room, "during 1");
    await bob.send(room, "during 2");
    await until(alice.store, (s) => s.connection.status === "reconnecting", "alice notices the dead connection");
    proxy.heal();
    const s = await until(alice.store, (st) => st.connection.status === "connected", "alice reconnects");
    assert.equal(s.connection.recovered, true);
    await until(alice.store, (st) => st.rooms[room]?.messages.length === 3, "missed messages replayed");
    assert.deepEqual(contents(alice, room), ["before", "during 1", "during 2"]);
    await alice.send(room, "after");
    await until(bob.store, (st) => st.rooms[room]?.messages.length === 4, "the room still works");
    // Not even a joinRoom went out, so no fetchHistory could follow one; the
    // only event since the drop is the message (its ack came back, so any
    // re-join at connect would have been sent before it).
    assert.deepEqual(sent, ["chatMessage"]);
  } finally {
    await proxy.close();
  }
});

test("a message whose ack was lost is resent with its clientMsgId and stored once", async () => {
  const proxy = await startProxy(server.port);
  try {
    const room = roomName("lost-ack");
    const alice = client("Alice", { url: proxy.url, transports: ["websocket"], ackTimeoutMs: 500 });
    await alice.join(room);
    proxy.blackhole(); // the server stores the message, alice never hears the ack
    const sending = alice.send(room, "exactly once");
    await eventually(async () => (await serverHistory(server.url, room)).length === 1, "the server stores it");
    proxy.heal();
    proxy.cut();
    const msg = await sending;
    const stored = await serverHistory(server.url, room);
    assert.equal(stored.length, 1);
    assert.equal(msg.id, stored[0]!.id);
    const r = alice.store.getState().rooms[room]!;
    assert.deepEqual(
      r.messages.map((m) => m.id),
      [msg.id],
    );
    assert.deepEqual(r.pending, []);
  } finally {
    await proxy.close();
  }
});

test("after a server restart: rooms re-joined, messages missed fetched once in order, offline sends delivered once", async () => {
  const srv = await startParley();
  try {
    const room = roomName("restart");
    const alice = createParleyClient({
      url: srv.url,
      identity: { userId: "alice", name: "Alice" },
      ackTimeoutMs: 2000,
      manager: FAST_RECONNECT,
    });
    clients.push(alice);
    await alice.join(room);
    await srv.publish(room, "one");
    await until(alice.store, (s) => s.rooms[room]?.messages.length === 1, "live message");

    await srv.stop();
    await until(alice.store, (s) => s.connection.status === "reconnecting", "alice sees the outage");
    const queued = alice.send(room, "typed offline");
    await until(alice.store, (s) => s.rooms[room]?.pending[0]?.status === "queued", "queued while offline");

    await srv.restart();
    // Published before alice is back: she must fetch these.
    await srv.publish(room, "two");
    await srv.publish(room, "three");
    const msg = await queued;
    await until(alice.store, (s) => s.rooms[room]?.messages.length === 4, "caught up");
    const s = alice.store.getState();
    assert.equal(s.connection.recovered, false);
    const stored = await serverHistory(srv.url, room);
    assert.deepEqual(
      stored.map((m) => m.content).filter((c) => c === "typed offline"),
      ["typed offline"],
    );
    assert.deepEqual(
      s.rooms[room]!.messages.map((m) => m.id),
      stored.map((m) => m.id),
    );
    assert.ok(stored.findIndex((m) => m.id === msg.id) >= 0);
    assert.equal(s.rooms[room]!.status, "joined");
    assert.deepEqual(s.rooms[room]!.pending, []);
  } finally {
    await srv.dispose();
  }
});

test("presence: a member who leaves is still watched, and goes offline after the grace period", async () => {
  const srv = await startParley({ args: ["--presence-grace", "300ms"] });
  try {
    const room = roomName("presence");
    const opts = { url: srv.url, ackTimeoutMs: 2000, manager: FAST_RECONNECT };
    const alice = createParleyClient({ ...opts, identity: { userId: "alice", name: "Alice" } });
    clients.push(alice);
    await alice.join(room);
    const bob = createParleyClient({ ...opts, identity: { userId: "bob", name: "Bob" } });
    clients.push(bob);
    await bob.join(room);
    await until(alice.store, (s) => s.presence["bob"]?.isOnline === true, "alice sees bob online");
    await until(
      alice.store,
      (s) => s.self?.id === "alice" && s.presence["alice"]?.isOnline === true,
      "alice sees herself",
    );

    const away = await bob.setStatus("away");
    assert.equal(away.status, "away");
    await until(alice.store, (s) => s.presence["bob"]?.status === "away", "bob away");

    bob.close();
    await until(alice.store, (s) => s.rooms[room]?.members.length === 1, "bob left the room");
    const offline = await until(
      alice.store,
      (s) => s.presence["bob"]?.isOnline === false,
      "bob offline after the grace period",
    );
    assert.equal(offline.presence["bob"]?.status, "offline");
    assert.ok((offline.presence["bob"]?.lastSeen ?? 0) > 0);

    const back = createParleyClient({ ...opts, identity: { userId: "bob", name: "Bob" } });
    clients.push(back);
    await back.join(room);
    await until(alice.store, (s) => s.presence["bob"]?.status === "online", "bob back online");
  } finally {
    await srv.dispose();
  }
});
