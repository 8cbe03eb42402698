// Server → client acknowledgements: socket.timeout().emit() with an ack
// (server-ask) and io.timeout().emit() to many sockets (broadcast-ask).

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Socket } from "socket.io-client";
import { MODES, ask, bytes, connectClient, useSuiteServer, type Client } from "../util.ts";

const server = useSuiteServer();

type AckFn = (...args: unknown[]) => void;

/** Makes the client answer every "ask" with answer(args). */
function answerAsks(socket: Socket, answer: (args: unknown[]) => unknown[]): void {
  socket.on("ask", (...args: unknown[]) => {
    const ack = args.pop() as AckFn;
    assert.equal(typeof ack, "function", "server-side ask carries an ack id");
    ack(...answer(args));
  });
}

interface ServerAskResult {
  ok: boolean;
  res?: unknown[];
  error?: string;
}

interface BroadcastAskResult {
  error: string | null;
  responses: string[];
}

let seq = 0;

for (const mode of MODES) {
  describe(`server-ask [${mode}]`, { timeout: 20_000 }, () => {
    it("the client's acknowledgement (several args) reaches the server", async () => {
      const c = await connectClient(server(), { mode });
      answerAsks(c.socket, (args) => ["answer", { echoed: args }, 3]);
      const r = await ask<ServerAskResult>(c.socket, "server-ask", { timeout: 2000, args: [1, "q", { deep: [null] }] });
      assert.deepEqual(r, { ok: true, res: ["answer", { echoed: [1, "q", { deep: [null] }] }, 3] });
      // the "ask" event itself carried exactly the args (plus the ack function)
      const [askArgs] = c.log.allArgs("ask");
      assert.deepEqual(askArgs!.slice(0, -1), [1, "q", { deep: [null] }]);
    });

    it("binary travels in the ask and back in the client's acknowledgement", async () => {
      const c = await connectClient(server(), { mode });
      answerAsks(c.socket, (args) => {
        const got = Buffer.from(args[0] as Uint8Array);
        return [{ reversed: Buffer.from(got).reverse() }];
      });
      const sent = bytes(32, 5);
      const r = await ask<ServerAskResult>(c.socket, "server-ask", { timeout: 2000, args: [sent] });
      assert.equal(r.ok, true);
      const reversed = (r.res![0] as { reversed: Uint8Array }).reversed;
      assert.ok(Buffer.from(reversed).equals(Buffer.from(sent).reverse()));
    });

    it("times out with ok:false when the client never acknowledges", async () => {
      const c = await connectClient(server(), { mode });
      let askedWith: unknown[] | undefined;
      let lateAck: AckFn | undefined;
      c.socket.on("ask", (...args: unknown[]) => {
        lateAck = args.pop() as AckFn;
        askedWith = args;
      });
      const started = Date.now();
      const r = await ask<ServerAskResult>(c.socket, "server-ask", { timeout: 200, args: ["silent"] });
      const elapsed = Date.now() - started;
      assert.deepEqual(r, { ok: false, error: "operation has timed out" });
      assert.ok(elapsed >= 150, `timed out too early (${elapsed} ms)`);
      assert.deepEqual(askedWith, ["silent"], "the client did receive the ask");
      // A late acknowledgement is ignored and the socket keeps working.
      lateAck?.("too late");
      assert.equal(await ask(c.socket, "message-with-ack", "still alive"), "still alive");
    });
  });

  describe(`broadcast-ask [${mode}]`, { timeout: 20_000 }, () => {
    async function three(): Promise<[Client, Client, Client, string]> {
      const room = `bask-${++seq}`;
      const cs = await Promise.all([0, 1, 2].map(() => connectClient(server(), { mode })));
      await Promise.all(cs.map((c) => ask(c.socket, "join", room)));
      return [cs[0]!, cs[1]!, cs[2]!, room];
    }

    it("collects one response per socket in the room", async () => {
      const [a, b, c, room] = await three();
      for (const x of [a, b, c]) answerAsks(x.socket, (args) => [{ id: x.socket.id, got: args }]);
      const r = await ask<BroadcastAskResult>(a.socket, "broadcast-ask", { timeout: 2000, room, args: ["q", 1] });
      assert.equal(r.error, null);
      const expected = [a, b, c].map((x) => JSON.stringify({ id: x.socket.id, got: ["q", 1] })).sort();
      assert.deepEqual(r.responses, expected);
    });

    it("only the first acknowledgement argument of each client is collected", async () => {
      const [a, b, c, room] = await three();
      for (const x of [a, b, c]) answerAsks(x.socket, () => [x.socket.id, "second", "third"]);
      const r = await ask<BroadcastAskResult>(a.socket, "broadcast-ask", { timeout: 2000, room, args: [] });
      assert.equal(r.error, null);
      assert.deepEqual(r.responses, [a, b, c].map((x) => JSON.stringify(x.socket.id)).sort());
    });

    it("a silent socket makes it time out with the partial responses", async () => {
      const [a, b, c, room] = await three();
      answerAsks(a.socket, () => ["from-a"]);
      answerAsks(b.socket, () => ["from-b"]);
      c.socket.on("ask", () => undefined); // receives, never acknowledges
      // The bound must hold two client round trips on a loaded 2-core machine.
      const r = await ask<BroadcastAskResult>(a.socket, "broadcast-ask", { timeout: 1000, room, args: [] });
      assert.equal(r.error, "operation has timed out");
      assert.deepEqual(r.responses, [JSON.stringify("from-a"), JSON.stringify("from-b")]);
      assert.equal(c.log.count("ask"), 1, "the silent socket did receive the ask");
    });

    it("to the whole namespace (no room) reaches every connected socket", async () => {
      const cs = await Promise.all([0, 1, 2].map(() => connectClient(server(), { mode })));
      for (const x of cs) answerAsks(x.socket, () => [x.socket.id]);
      const r = await ask<BroadcastAskResult>(cs[0]!.socket, "broadcast-ask", { timeout: 2000, args: [] });
      assert.equal(r.error, null);
      assert.deepEqual(r.responses, cs.map((x) => JSON.stringify(x.socket.id)).sort());
    });

    it("an empty room answers at once with no responses", async () => {
      const a = await connectClient(server(), { mode });
      const started = Date.now();
      const r = await ask<BroadcastAskResult>(a.socket, "broadcast-ask", { timeout: 2000, room: "nobody-here", args: [] });
      assert.deepEqual(r, { error: null, responses: [] });
      assert.ok(Date.now() - started < 1500, "did not wait for the timeout");
    });
  });
}
