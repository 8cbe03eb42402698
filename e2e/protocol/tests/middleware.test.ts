// Per-packet middleware (socket.use): a refused packet produces an "error" on
// the server socket (answered with "packet-error"), runs no handler, and the
// socket keeps working.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MODES, ask, connectClient, useSuiteServer } from "../util.ts";

const server = useSuiteServer();

for (const mode of MODES) {
  describe(`per-packet middleware [${mode}]`, { timeout: 20_000 }, () => {
    it('a "forbidden" event is refused with packet-error "forbidden event"', async () => {
      const c = await connectClient(server(), { mode });
      c.socket.emit("forbidden", { some: "payload" });
      const [msg] = await c.log.nextArgs("packet-error");
      assert.equal(msg, "forbidden event");
    });

    it("the socket keeps working after a refused packet, in order", async () => {
      const c = await connectClient(server(), { mode });
      c.socket.emit("message", "before");
      c.socket.emit("forbidden");
      c.socket.emit("message", "after");
      assert.deepEqual(await c.log.nextArgs("message-back"), ["before"]);
      assert.deepEqual(await c.log.nextArgs("packet-error"), ["forbidden event"]);
      assert.deepEqual(await c.log.nextArgs("message-back"), ["after"]);
      assert.deepEqual(c.log.names().filter((n) => n !== "connect" && n !== "auth" && n !== "info"), [
        "message-back",
        "packet-error",
        "message-back",
      ]);
      assert.equal(await ask(c.socket, "message-with-ack", 1), 1);
      assert.equal(c.socket.connected, true);
    });

    it("a refused packet's acknowledgement is never called", async () => {
      const c = await connectClient(server(), { mode });
      let acked = false;
      c.socket.emit("forbidden", "x", () => {
        acked = true;
      });
      await c.log.nextArgs("packet-error");
      // Any ack for the forbidden packet would have been written before the
      // answer to this later request on the same ordered connection.
      assert.equal(await ask(c.socket, "message-with-ack", "later"), "later");
      assert.equal(acked, false);
    });

    it("every refused packet gets its own packet-error", async () => {
      const c = await connectClient(server(), { mode });
      for (let i = 0; i < 3; i++) c.socket.emit("forbidden", i);
      for (let i = 0; i < 3; i++) assert.deepEqual(await c.log.nextArgs("packet-error"), ["forbidden event"]);
      assert.equal(await ask(c.socket, "message-with-ack", "ok"), "ok");
      assert.equal(c.log.count("packet-error"), 3);
    });
  });
}
