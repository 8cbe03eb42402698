// Connection state recovery (server started with --recovery:
// maxDisconnectionDuration 5000 ms, skipMiddlewares true).
//
// With recovery enabled, Socket.IO appends an offset (a string) as the last
// argument of every stored event packet; socket.io-client remembers the last
// one and sends { pid, offset } in the auth of its next CONNECT. Events sent
// while the client was away are replayed, in order, before anything else.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { useServer, type TestServer } from "../harness.ts";
import { RawWs } from "../raw.ts";
import {
  MODES,
  WAIT_MS,
  ask,
  connectClient,
  connectObserver,
  type Client,
  type Mode,
  useSuiteServer,
} from "../util.ts";

const server = useSuiteServer({ recovery: true });

let seq = 0;

/**
 * Drops the client's connection without a Socket.IO DISCONNECT: on websocket
 * the TCP connection is torn down without a close frame (ws.terminate()); on
 * polling the engine is closed (the server sees "transport close" either way,
 * which is a recoverable reason).
 */
function dropConnection(c: Client): void {
  const transport = c.socket.io.engine.transport as unknown as { name: string; ws?: { terminate?: () => void } };
  if (transport.name === "websocket" && typeof transport.ws?.terminate === "function") {
    transport.ws.terminate();
  } else {
    c.socket.io.engine.close();
  }
}

/** Event args without the trailing recovery offset (asserted to be a string). */
function withoutOffset(args: unknown[]): unknown[] {
  assert.ok(args.length > 0 && typeof args.at(-1) === "string", `last argument is the offset: ${JSON.stringify(args)}`);
  return args.slice(0, -1);
}

async function emitTo(from: Client, opts: Record<string, unknown>): Promise<void> {
  assert.equal(await ask(from.socket, "emit-to", opts), "ok");
}

async function setup(srv: TestServer, mode: Mode): Promise<{ a: Client; b: Client; room: string }> {
  const room = `rec-${++seq}`;
  const a = await connectClient(srv, { mode, reconnection: true });
  const b = await connectClient(srv, { mode: "websocket" });
  await a.log.nextArgs("info"); // a has received at least one offset
  const rooms = await ask<string[]>(a.socket, "join", room);
  assert.ok(rooms.includes(room));
  return { a, b, room };
}

for (const mode of MODES) {
  describe(`connection state recovery [${mode}]`, { timeout: 30_000 }, () => {
    it("every stored event carries an offset as its last argument; acks carry none", async () => {
      const c = await connectClient(server(), { mode });
      const [auth] = (await c.log.nextArgs("auth").then(withoutOffset)) as [unknown];
      assert.deepEqual(auth, {});
      const [info] = withoutOffset(await c.log.nextArgs("info"));
      assert.deepEqual(info, { id: c.socket.id, recovered: false });
      c.socket.emit("message", "x");
      assert.deepEqual(withoutOffset(await c.log.nextArgs("message-back")), ["x"]);
      // acks are not stored, hence carry no offset
      assert.deepEqual(await ask(c.socket, "message-with-ack", "y"), "y");
    });

    it("missed events are replayed in order on reconnection; same id, recovered, rooms kept", async () => {
      const observer = await connectObserver(server());
      const { a, b, room } = await setup(server(), mode);
      const id = a.socket.id!;
      // Reconnect by hand below, once the missed events have been emitted, so
      // that they are really missed (deterministic, no timing assumption).
      a.socket.io.reconnection(false);
      dropConnection(a);
      const [clientReason] = await a.log.nextArgs("disconnect");
      // websocket: terminated underneath the client → "transport close";
      // polling: engine.close() from the client → "forced close"
      assert.equal(clientReason, mode === "polling" ? "forced close" : "transport close");
      assert.equal(a.socket.active, true, "a transport loss is not final");
      assert.deepEqual(await observer.reasonFor(id), { id, nsp: "/", reason: "transport close" });

      await emitTo(b, { to: [room], event: "missed", args: [1] });
      await emitTo(b, { to: [room], volatile: true, event: "missed-volatile", args: ["v"] });
      await emitTo(b, { to: [id], event: "missed", args: [2, { two: true }] });
      await emitTo(b, { event: "missed", args: [3] }); // namespace-wide
      await emitTo(b, { to: ["some-other-room"], event: "not-for-a", args: [] });

      a.socket.io.reconnection(true);
      a.socket.connect();
      await a.log.nextArgs("connect");
      assert.equal(a.socket.recovered, true);
      assert.equal(a.socket.id, id, "same socket id after recovery");

      const missed = [
        withoutOffset(await a.log.nextArgs("missed")),
        withoutOffset(await a.log.nextArgs("missed")),
        withoutOffset(await a.log.nextArgs("missed")),
      ];
      assert.deepEqual(missed, [[1], [2, { two: true }], [3]], "missed events in emission order");
      // the replayed events come before the new connection's greeting
      const [info] = withoutOffset(await a.log.nextArgs("info"));
      assert.deepEqual(info, { id, recovered: true });
      const names = a.log.names();
      const lastMissed = names.lastIndexOf("missed");
      const secondInfo = names.lastIndexOf("info");
      assert.ok(lastMissed < secondInfo, `replay before greeting: ${JSON.stringify(names)}`);
      // volatile packets are not stored; packets for other rooms are not replayed
      assert.equal(a.log.count("missed-volatile"), 0);
      assert.equal(a.log.count("not-for-a"), 0);
      // room membership was restored
      assert.deepEqual(await ask(a.socket, "join", []), [id, room].sort());
      await emitTo(b, { to: [room], event: "after", args: ["live"] });
      assert.deepEqual(withoutOffset(await a.log.nextArgs("after")), ["live"]);
      assert.equal(a.log.count("missed"), 3, "nothing replayed twice");
    });

    it("the Manager's automatic reconnection recovers the session", async () => {
      const observer = await connectObserver(server());
      const { a, b, room } = await setup(server(), mode);
      const id = a.socket.id!;
      dropConnection(a);
      await a.log.nextArgs("disconnect");
      await a.log.nextArgs("connect"); // reconnected by the Manager (delay 50 ms)
      assert.equal(a.socket.recovered, true);
      assert.equal(a.socket.id, id);
      assert.equal((await observer.reasonFor(id)).reason, "transport close");
      // (the first "info" was consumed by setup)
      const [info] = withoutOffset(await a.log.nextArgs("info"));
      assert.deepEqual(info, { id, recovered: true });
      await emitTo(b, { to: [room], event: "after", args: [] });
      assert.deepEqual(withoutOffset(await a.log.nextArgs("after")), []);
    });

    it("no recovery after a client-side disconnect (not a recoverable reason)", async () => {
      const { a } = await setup(server(), mode);
      const id = a.socket.id!;
      a.socket.disconnect();
      assert.deepEqual(await a.log.nextArgs("disconnect"), ["io client disconnect", undefined]);
      a.socket.connect(); // still sends { pid, offset }
      await a.log.nextArgs("connect");
      assert.ok(!a.socket.recovered);
      assert.notEqual(a.socket.id, id);
      assert.deepEqual(withoutOffset(await a.log.nextArgs("info")), [{ id: a.socket.id, recovered: false }]);
    });

    it("no recovery after a server-side disconnect (disconnect-me)", async () => {
      const { a } = await setup(server(), mode);
      const id = a.socket.id!;
      a.socket.emit("disconnect-me", false);
      assert.equal((await a.log.nextArgs("disconnect"))[0], "io server disconnect");
      a.socket.connect();
      await a.log.nextArgs("connect");
      assert.ok(!a.socket.recovered);
      assert.notEqual(a.socket.id, id);
    });
  });
}

describe("connection state recovery: raw CONNECT", { timeout: 20_000 }, () => {
  it("a CONNECT with an unknown pid/offset gets a fresh session", async () => {
    const raw = await RawWs.open(server().url);
    await raw.handshake();
    raw.send('40{"pid":"unknown-pid","offset":"unknown-offset"}');
    const ack = await raw.nextMatching((f) => f.startsWith("40"));
    const data = JSON.parse(ack.slice(2)) as Record<string, unknown>;
    assert.deepEqual(Object.keys(data).sort(), ["pid", "sid"]);
    assert.notEqual(data.pid, "unknown-pid");
    const info = await raw.nextMatching((f) => f.startsWith('42["info"'));
    const args = JSON.parse(info.slice(2)) as unknown[];
    assert.deepEqual(args.slice(0, 2), ["info", { id: data.sid, recovered: false }]);
    assert.equal(typeof args[2], "string", "offset appended");
    raw.close();
  });
});

describe("without --recovery", { timeout: 20_000 }, () => {
  const plain = useServer();

  for (const mode of MODES) {
    it(`[${mode}] a reconnecting client is not recovered and gets a new id`, async () => {
      const a = await connectClient(plain(), { mode, reconnection: true });
      const b = await connectClient(plain(), { mode: "websocket" });
      await ask(a.socket, "join", "r");
      const id = a.socket.id!;
      a.socket.io.reconnection(false);
      dropConnection(a);
      await a.log.nextArgs("disconnect");
      // emitted while a is away; without recovery it is lost
      assert.equal(await ask(b.socket, "emit-to", { to: [id], event: "missed", args: [1] }), "ok");
      a.socket.io.reconnection(true);
      a.socket.connect();
      await a.log.nextArgs("connect");
      // no "pid" in the CONNECT ack → socket.io-client leaves it falsy (undefined)
      assert.ok(!a.socket.recovered);
      assert.notEqual(a.socket.id, id);
      await a.log.nextArgs("info");
      assert.deepEqual(await a.log.nextArgs("info", WAIT_MS), [{ id: a.socket.id, recovered: false }]);
      // rooms are not restored and nothing is replayed
      assert.deepEqual(await ask(a.socket, "join", []), [a.socket.id]);
      assert.equal(a.log.count("missed"), 0);
      // events carry no offset without recovery
      a.socket.emit("message", "plain");
      assert.deepEqual(await a.log.nextArgs("message-back"), ["plain"]);
    });
  }
});
