// Volatile emits: delivered when the transport is writable, silently dropped
// (never buffered) when it is not.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { RawPolling, RawWs } from "../raw.ts";
import { ask, connectClient, useSuiteServer, type Mode } from "../util.ts";

const server = useSuiteServer();

describe("volatile", { timeout: 20_000 }, () => {
  for (const mode of ["websocket", "upgrade"] as Mode[]) {
    it(`[${mode}] a volatile emit-to reaches a healthy websocket client, in order with other events`, async () => {
      const a = await connectClient(server(), { mode });
      const b = await connectClient(server(), { mode });
      // The client switches to its WebSocket as it sends "5"; the server may
      // not have read that frame yet, and until it has, b's transport is a
      // paused poll where a volatile packet is rightly dropped. An ack that
      // comes back to b was answered after the server read everything b sent
      // before it, "5" included.
      assert.equal(await ask(b.socket, "message-with-ack", "sync"), "sync");
      assert.equal(
        await ask(a.socket, "emit-to", { to: [b.socket.id], volatile: true, event: "v", args: [1, { x: "y" }] }),
        "ok",
      );
      assert.equal(await ask(a.socket, "emit-to", { to: [b.socket.id], event: "nv", args: [2] }), "ok");
      assert.deepEqual(await b.log.nextArgs("v"), [1, { x: "y" }]);
      assert.deepEqual(await b.log.nextArgs("nv"), [2]);
      const names = b.log.names();
      assert.ok(names.indexOf("v") < names.indexOf("nv"));
    });
  }

  it("a volatile broadcast reaches every healthy websocket client, sender included", async () => {
    const cs = await Promise.all([0, 1, 2].map(() => connectClient(server(), { mode: "websocket" })));
    assert.equal(await ask(cs[0]!.socket, "emit-to", { volatile: true, event: "vb", args: ["all"] }), "ok");
    for (const c of cs) assert.deepEqual(await c.log.nextArgs("vb"), ["all"]);
  });

  it("raw websocket: the volatile packet is written like any other", async () => {
    const raw = await RawWs.open(server().url);
    await raw.handshake();
    const sid = await raw.connectMain();
    const sender = await connectClient(server(), { mode: "websocket" });
    await ask(sender.socket, "emit-to", { to: [sid], volatile: true, event: "v", args: ["w"] });
    assert.equal(await raw.nextMatching((f) => f.startsWith("42")), '42["v","w"]');
    raw.close();
  });

  it("polling with no pending GET: a volatile packet is dropped while a normal one is buffered", async () => {
    // Deterministic: the raw client holds no GET open, so the transport is
    // not writable when the server processes the volatile emit.
    const raw = await RawPolling.open(server().url);
    const sid = await raw.connectMain(); // returns with no GET pending
    const sender = await connectClient(server(), { mode: "websocket" });
    assert.equal(await ask(sender.socket, "emit-to", { to: [sid], volatile: true, event: "v", args: [1] }), "ok");
    assert.equal(await ask(sender.socket, "emit-to", { to: [sid], event: "nv", args: [2] }), "ok");
    assert.equal(await ask(sender.socket, "emit-to", { to: [sid], volatile: true, event: "v", args: [3] }), "ok");
    const got = await raw.pollUntil((p) => p.startsWith('42["nv"'));
    const events = got.filter((p) => p.startsWith("42"));
    assert.deepEqual(events, ['42["nv",2]'], `only the non-volatile event was kept: ${JSON.stringify(got)}`);
    // and the session goes on normally
    await raw.send('421["message-with-ack","ok"]');
    const more = await raw.pollUntil((p) => p.startsWith("431"));
    assert.ok(!more.some((p) => p.startsWith('42["v"')), "dropped volatile packets never show up later");
  });
});
