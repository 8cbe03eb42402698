// The testing kit's own tests: one set of scenarios, driven through
// createParleyClient, run against the in-memory fake (@parley/client/testing)
// and against the real server (bin/parley). A behaviour of the fake that
// differs from the server's fails here, so the fake cannot drift.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { ManagerOptions, Socket } from "socket.io-client";
import { DEFAULT_HISTORY_LIMIT, MAX_CONTENT_CHARS, MAX_HISTORY_LIMIT, type Result } from "../src/generated/events.js";
import { createParleyClient, ParleyError, type ParleyClient, type ParleyClientOptions } from "../src/index.js";
import { createFakeParley, type FakeParley } from "../src/testing.js";
import { startParley, type Parley } from "../../e2e/support/parley.ts";
import { until } from "./support/wait.ts";

/** What a scenario needs of the server it runs against. */
interface Target {
  options(manager: Partial<ManagerOptions>): Pick<ParleyClientOptions, "url" | "manager">;
  publish(room: string, content: string): Promise<unknown>;
}

const FAST_RECONNECT = { reconnectionDelay: 50, reconnectionDelayMax: 300, randomizationFactor: 0 };
let seq = 0;
// The ":" keeps a name from being shaped like a socket id, which the server refuses.
const roomName = (what: string) => `${what}:${process.pid}-${++seq}`;

function scenarios(name: string, target: () => Target): void {
  describe(name, () => {
    const clients: ParleyClient[] = [];
    after(() => {
      for (const c of clients) c.close();
    });
    function client(who: string, opts: Partial<ParleyClientOptions> = {}): ParleyClient {
      const c = createParleyClient({
        identity: { userId: `${who.toLowerCase()}-${seq}`, name: who },
        ackTimeoutMs: 3000,
        ...opts,
        ...target().options(FAST_RECONNECT),
      });
      clients.push(c);
      return c;
    }
    /** The ack of a raw emit on a client's /chat socket. */
    async function raw(c: ParleyClient, ev: string, payload: unknown): Promise<Result<unknown>> {
      await until(c.store, (s) => s.connection.status === "connected", "connected");
      // An untyped emit: these payloads break the contract on purpose.
      const socket = c.chat as unknown as Socket;
      return (await socket.timeout(3000).emitWithAck(ev, payload)) as Result<unknown>;
    }
    const code = (r: Result<unknown>) => (r.ok ? "ok" : r.error.code);

    test("two users: members, userJoined, typing, messages both ways, userLeft", async () => {
      const room = roomName("talk");
      const alice = client("Alice");
      const bob = client("Bob", { typing: { intervalMs: 50 } });
      await alice.join(room);
      const joined = await bob.join(room);
      assert.deepEqual(joined.members.map((u) => u.name).sort(), ["Alice", "Bob"]);
      await until(alice.store, (s) => s.rooms[room]?.members.length === 2, "alice sees bob join");
      const keys = setInterval(() => bob.typing(room), 20);
      try {
        await until(alice.store, (s) => s.rooms[room]?.typing.some((u) => u.name === "Bob") === true, "bob typing");
      } finally {
        clearInterval(keys);
      }
      const sent = await bob.send(room, "  hi alice  ");
      assert.equal(sent.content, "hi alice");
      assert.equal(sent.room, room);
      await until(alice.store, (s) => s.rooms[room]?.messages.some((m) => m.id === sent.id) === true, "alice receives");
      const back = await alice.send(room, "hi bob");
      await until(bob.store, (s) => s.rooms[room]?.messages.at(-1)?.id === back.id, "bob receives");
      await bob.leave(room);
      await until(alice.store, (s) => s.rooms[room]?.members.length === 1, "alice sees bob leave");
    });

    test("history: the latest page on join, older pages oldest first", async () => {
      const room = roomName("paging");
      const total = DEFAULT_HISTORY_LIMIT + 5;
      for (let i = 1; i <= total; i++) await target().publish(room, `m${i}`);
      const c = client("Pager");
      const joined = await c.join(room);
      assert.equal(joined.messages.length, DEFAULT_HISTORY_LIMIT);
      assert.equal(joined.messages[0]?.content, "m6");
      assert.equal(joined.hasOlder, true);
      const page = await c.history(room, { before: joined.messages[0]!.id, limit: MAX_HISTORY_LIMIT });
      assert.deepEqual(
        page.messages.map((m) => m.content),
        ["m1", "m2", "m3", "m4", "m5"],
      );
      assert.equal(page.hasMore, false);
      const newer = await c.history(room, { after: joined.messages[0]!.id, limit: 2 });
      assert.deepEqual(
        newer.messages.map((m) => m.content),
        ["m7", "m8"],
      );
      assert.equal(newer.hasMore, true);
    });

    test("typed errors, as the server gives them", async () => {
      const room = roomName("errors");
      const other = roomName("other");
      const c = client("Errs");
      await c.join(room);
      await c.join(other);
      assert.equal(code(await raw(c, "joinRoom", { room: "no spaces" })), "bad_request");
      assert.equal(code(await raw(c, "joinRoom", { room: "AAAAAAAAAAAAAAAAAAAA" })), "bad_request");
      assert.equal(code(await raw(c, "chatMessage", { room: roomName("never"), content: "x" })), "forbidden");
      assert.equal(code(await raw(c, "chatMessage", { room, content: "   " })), "bad_request");
      assert.equal(
        code(await raw(c, "chatMessage", { room, content: "x".repeat(MAX_CONTENT_CHARS + 1) })),
        "too_large",
      );
      assert.equal(code(await raw(c, "leaveRoom", { room: roomName("never") })), "not_found");
      assert.equal(code(await raw(c, "fetchHistory", { room, limit: 0 })), "bad_request");
      const sent = await raw(c, "chatMessage", { room, content: "once", clientMsgId: `k-${seq}` });
      assert.ok(sent.ok);
      assert.equal(code(await raw(c, "fetchHistory", { room, before: "no-such-id" })), "not_found");
      // A resend is the original, not a second message; in another room, a conflict.
      const again = await raw(c, "chatMessage", { room, content: "once", clientMsgId: `k-${seq}` });
      assert.ok(again.ok);
      assert.deepEqual(again.data, sent.data);
      assert.equal(
        code(await raw(c, "chatMessage", { room: other, content: "once", clientMsgId: `k-${seq}` })),
        "conflict",
      );
      const history = await c.history(room);
      assert.equal(history.messages.filter((m) => m.content === "once").length, 1);
      // The client's own checks give the same typed errors.
      await assert.rejects(
        c.send(roomName("never"), "x"),
        (e: unknown) => e instanceof ParleyError && e.code === "forbidden",
      );
    });

    test("presence: watch a user, see their status change and them go offline", async () => {
      const alice = client("Alice");
      const bob = client("Bob");
      const bobId = `bob-${seq}`;
      await until(bob.store, (s) => s.connection.status === "connected", "bob connected");
      await alice.watch({ userIds: [bobId] });
      await until(alice.store, (s) => s.presence[bobId]?.isOnline === true, "bob online");
      const st = await bob.setStatus("busy");
      assert.equal(st.status, "busy");
      await until(alice.store, (s) => s.presence[bobId]?.status === "busy", "bob busy");
      bob.close();
      const s = await until(alice.store, (st2) => st2.presence[bobId]?.status === "offline", "bob offline");
      assert.equal(s.presence[bobId]?.isOnline, false);
      assert.ok((s.presence[bobId]?.lastSeen ?? 0) > 0);
    });

    test("a status set before the connection is up waits for /presence instead of failing", async () => {
      const carol = client("Carol");
      const carolId = `carol-${seq}`;
      const st = await carol.setStatus("away"); // called before either socket connected
      assert.equal(st.status, "away");
      assert.equal(st.userId, carolId);
      assert.equal(carol.store.getState().presence[carolId]?.status, "away");
    });

    test("a refused identity: the connection reports unauthorized", async () => {
      const c = client("Nobody", { identity: { userId: " ", name: "Nobody" } });
      const joining = c.join(roomName("refused"));
      const s = await until(c.store, (st) => st.connection.status === "disconnected", "refusal");
      assert.equal(s.connection.error?.code, "unauthorized");
      await assert.rejects(joining, (e: unknown) => e instanceof ParleyError && e.code === "unauthorized");
    });
  });
}

let fake: FakeParley;
let server: Parley;
before(async () => {
  fake = createFakeParley();
  server = await startParley({ args: ["--presence-grace", "-1s"] }); // negative: offline at once, as the fake
});
after(async () => {
  fake.close();
  await server.dispose();
});

scenarios("against the in-memory fake", () => ({
  options: (manager) => fake.clientOptions(manager),
  publish: async (room, content) => fake.publish(room, { id: "backend", name: "Backend" }, content),
}));
scenarios("against the real server (bin/parley)", () => ({
  options: (manager) => ({ url: server.url, manager }),
  publish: (room, content) => server.publish(room, content),
}));

test("the fake drops connections on demand; clients reconnect and re-join by themselves", async () => {
  const f = createFakeParley();
  try {
    const room = roomName("drop");
    const c = createParleyClient({ ...f.clientOptions(FAST_RECONNECT), identity: { userId: "d", name: "D" } });
    try {
      await c.join(room);
      f.dropConnections();
      await until(c.store, (s) => s.connection.status === "reconnecting", "dropped");
      await until(c.store, (s) => s.connection.status === "connected", "reconnected");
      const m = await c.send(room, "after the drop");
      assert.deepEqual(
        f.messages(room).map((x) => x.id),
        [m.id],
      );
    } finally {
      c.close();
    }
  } finally {
    f.close();
  }
});
