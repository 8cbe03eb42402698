// Disconnect reasons, as seen by the client (socket.io-client "disconnect")
// and by the server (reported on /observer).

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { useServer } from "../harness.ts";
import { RawPolling, RawWs } from "../raw.ts";
import {
  MODES,
  WAIT_MS,
  ask,
  connectClient,
  connectObserver,
  negativeWindow,
  useSuiteServer,
  within,
} from "../util.ts";

const server = useSuiteServer();

for (const mode of MODES) {
  describe(`disconnect reasons [${mode}]`, { timeout: 20_000 }, () => {
    it('client socket.disconnect() → client "io client disconnect", server "client namespace disconnect"', async () => {
      const observer = await connectObserver(server());
      const c = await connectClient(server(), { mode });
      const id = c.socket.id!;
      c.socket.disconnect();
      const [reason] = await c.log.nextArgs("disconnect");
      assert.equal(reason, "io client disconnect");
      assert.deepEqual(await observer.reasonFor(id), { id, nsp: "/", reason: "client namespace disconnect" });
    });

    it('disconnect-me(false) → client "io server disconnect", not reconnecting; server "server namespace disconnect"', async () => {
      const observer = await connectObserver(server());
      // reconnection enabled: the point is that the client does NOT use it
      const c = await connectClient(server(), { mode, reconnection: true });
      const id = c.socket.id!;
      c.socket.emit("disconnect-me", false);
      const [reason] = await c.log.nextArgs("disconnect");
      assert.equal(reason, "io server disconnect");
      assert.equal(c.socket.active, false, "a server-side disconnect is final");
      assert.deepEqual(await observer.reasonFor(id), { id, nsp: "/", reason: "server namespace disconnect" });
      // Negative check: with reconnection enabled (delay 50 ms), no new
      // connection attempt may follow within the window.
      let attempted = false;
      c.socket.io.on("reconnect_attempt", () => (attempted = true));
      await negativeWindow();
      assert.equal(attempted, false, "no reconnect attempt");
      assert.equal(c.log.count("connect"), 1, "no reconnection");
      assert.equal(c.socket.connected, false);
    });

    it("after disconnect-me(false) a manual connect() gets a new session", async () => {
      const c = await connectClient(server(), { mode });
      const first = c.socket.id;
      c.socket.emit("disconnect-me", false);
      await c.log.nextArgs("disconnect");
      c.socket.connect();
      await c.log.nextArgs("connect");
      assert.notEqual(c.socket.id, first);
      assert.deepEqual(await c.log.nextArgs("info"), [{ id: first, recovered: false }]);
      assert.deepEqual(await c.log.nextArgs("info"), [{ id: c.socket.id, recovered: false }]);
      assert.equal(await ask(c.socket, "message-with-ack", "again"), "again");
    });

    it('disconnect-me(true) → client "io server disconnect"; server "server namespace disconnect" for every namespace of the connection', async () => {
      const observer = await connectObserver(server());
      const c = await connectClient(server(), { mode, reconnection: true });
      const custom = c.socket.io.socket("/custom");
      await within(
        new Promise<void>((resolve) => custom.once("connect", () => resolve())),
        WAIT_MS,
        "connect on /custom",
      );
      const customDisconnect = new Promise<string>((resolve) => custom.once("disconnect", (r) => resolve(r)));
      const id = c.socket.id!;
      const customId = custom.id!;
      c.socket.emit("disconnect-me", true);
      const [reason] = await c.log.nextArgs("disconnect");
      assert.equal(reason, "io server disconnect");
      assert.equal(await within(customDisconnect, WAIT_MS, "/custom disconnect"), "io server disconnect");
      assert.equal(c.socket.active, false);
      assert.equal(custom.active, false);
      assert.deepEqual(await observer.reasonFor(id, "/"), { id, nsp: "/", reason: "server namespace disconnect" });
      assert.deepEqual(await observer.reasonFor(customId, "/custom"), {
        id: customId,
        nsp: "/custom",
        reason: "server namespace disconnect",
      });
    });

    it('closing the engine from the client → server "transport close"', async () => {
      const observer = await connectObserver(server());
      const c = await connectClient(server(), { mode });
      const id = c.socket.id!;
      c.socket.io.engine.close();
      const [reason] = await c.log.nextArgs("disconnect");
      assert.equal(reason, "forced close");
      assert.deepEqual(await observer.reasonFor(id), { id, nsp: "/", reason: "transport close" });
    });
  });
}

describe("disconnect reasons: transport level", { timeout: 20_000 }, () => {
  it('a websocket dropped without a close packet → server "transport close"', async () => {
    const observer = await connectObserver(server());
    const raw = await RawWs.open(server().url);
    await raw.handshake();
    const id = await raw.connect();
    raw.close(); // TCP teardown, no Engine.IO close packet
    assert.deepEqual(await observer.reasonFor(id), { id, nsp: "/", reason: "transport close" });
  });

  it('a polling client sending the close packet "1" → server "transport close"', async () => {
    const observer = await connectObserver(server());
    const raw = await RawPolling.open(server().url);
    const { sid: id } = await raw.connect();
    await raw.send("1");
    assert.deepEqual(await observer.reasonFor(id), { id, nsp: "/", reason: "transport close" });
    // The session is gone. Node refuses the next GET at once; Parley answers
    // one GET within 500 ms of the close with the noop first, as a GET the
    // client sent alongside the close may reach it after the close
    // (engineio/server.go, remove; the public suites' "forcefully closes
    // the session"), and refuses the one after.
    let after = await raw.get();
    if (after.status === 200) {
      assert.equal(after.body, "6", "at most one noop after the close");
      after = await raw.get();
    }
    assert.equal(after.status, 400, "the session is gone");
    assert.deepEqual(JSON.parse(after.body), { code: 1, message: "Session ID unknown" });
  });

});

describe("disconnect reasons: ping timeout (pingInterval 300 / pingTimeout 200)", { timeout: 20_000 }, () => {
  const tight = useServer({ pingInterval: 300, pingTimeout: 200 });

  it('a websocket client that never answers pings → server "ping timeout" (websocket)', async () => {
    const observer = await connectObserver(tight());
    const raw = await RawWs.open(tight().url);
    const started = Date.now();
    const hs = await raw.handshake();
    assert.equal(hs.pingInterval, 300);
    assert.equal(hs.pingTimeout, 200);
    const id = await raw.connect("/", undefined, { pong: false });
    const d = await observer.reasonFor(id);
    const elapsed = Date.now() - started;
    assert.deepEqual(d, { id, nsp: "/", reason: "ping timeout" });
    // ping sent at ~pingInterval, deadline pingTimeout later
    assert.ok(elapsed >= 400, `closed after ${elapsed} ms, before pingInterval + pingTimeout`);
    assert.ok(elapsed < 2500, `closed after ${elapsed} ms`);
    // the server did ping before giving up
    const frames: string[] = [];
    for (;;) {
      try {
        const f = await raw.next(WAIT_MS);
        if (typeof f === "string") frames.push(f);
      } catch {
        break; // closed
      }
    }
    assert.ok(frames.includes("2"), `a ping was sent (frames: ${JSON.stringify(frames)})`);
    await within(raw.closed, WAIT_MS, "websocket closed by the server");
  });

  it('a polling client that never answers pings → server "ping timeout" (polling)', async () => {
    const observer = await connectObserver(tight());
    const started = Date.now();
    const raw = await RawPolling.open(tight().url);
    await raw.send("40");
    // Read until the CONNECT ack, never sending "3" for any ping.
    let sid: string | undefined;
    while (!sid) {
      const res = await raw.get();
      assert.equal(res.status, 200);
      for (const p of res.body.split("\x1e")) {
        if (p.startsWith("40")) sid = (JSON.parse(p.slice(2)) as { sid: string }).sid;
      }
    }
    const d = await observer.reasonFor(sid);
    const elapsed = Date.now() - started;
    assert.deepEqual(d, { id: sid, nsp: "/", reason: "ping timeout" });
    assert.ok(elapsed >= 400, `closed after ${elapsed} ms, before pingInterval + pingTimeout`);
    assert.ok(elapsed < 2500, `closed after ${elapsed} ms`);
    // the Engine.IO session is gone once the ping timed out
    const res = await raw.get();
    assert.equal(res.status, 400);
    assert.deepEqual(JSON.parse(res.body), { code: 1, message: "Session ID unknown" });
  });
});
