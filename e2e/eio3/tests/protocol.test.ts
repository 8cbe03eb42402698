// socket.io-client 2.5.0 (Engine.IO v3, Socket.IO protocol v4) against a
// server started with --allow-eio3: the test server of
// e2e/protocol/TESTSERVER.md, Parley's ($PARLEY_TESTSERVER) or the Node
// twin (socket.io 4.8 with allowEIO3: true), which proves every assertion.
// Each behaviour runs over long-polling, WebSocket, and polling then the
// upgrade.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { io as ioV4 } from "socket.io-client";
import { useServer } from "../../protocol/harness.ts";
import { eioUrl, http } from "../../protocol/raw.ts";
import {
  MODES,
  WAIT_MS,
  ask,
  connectClient,
  createClient,
  useClientCleanup,
  within,
  type V2Socket,
} from "../client.ts";

const server = useServer({ allowEIO3: true, pingInterval: 1000, pingTimeout: 5000 });
useClientCleanup();

const bin = (...b: number[]): Buffer => Buffer.from(b);

for (const mode of MODES) {
  describe(`socket.io-client 2.x over ${mode}`, { timeout: 30_000 }, () => {
    it('is connected to "/" without a CONNECT of its own; its id is the engine id; auth is empty', async () => {
      const c = await connectClient(server().url, { mode, query: { x: "1" } });
      assert.equal(c.socket.id, c.socket.io.engine.id);
      // "/" is joined at the handshake: the query is not its auth.
      assert.deepEqual(await c.log.next("auth"), {});
      assert.deepEqual(await c.log.next("info"), { id: c.socket.id, recovered: false });
    });

    it("connects to another namespace with its query as auth; its id is <nsp>#<engine id>", async () => {
      const c = await connectClient(server().url, { mode, nsp: "/custom", query: { token: "abc", n: "1" } });
      assert.deepEqual(await c.log.next("auth"), { token: "abc", n: "1" });
      assert.equal(c.socket.id, `/custom#${c.socket.io.engine.id}`);
    });

    it("events both ways, binary included, in order", async () => {
      const c = await connectClient(server().url, { mode });
      const args = [1, "é😀", bin(1, 2, 3), { nested: [bin(0xff, 0), "x"] }];
      c.socket.emit("message", ...args);
      c.socket.emit("message", "second");
      assert.deepEqual(await c.log.nextArgs("message-back"), args);
      assert.deepEqual(await c.log.nextArgs("message-back"), ["second"]);
    });

    it("a client emit acked by the server, binary included", async () => {
      const c = await connectClient(server().url, { mode });
      const args = ["a", bin(9, 8, 7), { b: bin(1) }];
      assert.deepEqual(await ask(c.socket, "message-with-ack", ...args), args);
      assert.deepEqual(await ask(c.socket, "message-with-ack"), []);
    });

    it("a server emit acked by the client, binary included", async () => {
      const c = await connectClient(server().url, { mode });
      c.socket.on("ask", (...args: unknown[]) => {
        const ack = args.pop() as (...res: unknown[]) => void;
        ack("answer", bin(4, 2), args);
      });
      const [res] = await ask(c.socket, "server-ask", { timeout: WAIT_MS, args: ["q", bin(5)] });
      assert.deepEqual(res, { ok: true, res: ["answer", bin(4, 2), ["q", bin(5)]] });
    });

    it("rooms and broadcasts reach 2.x clients", async () => {
      const a = await connectClient(server().url, { mode });
      const b = await connectClient(server().url, { mode });
      const room = `eio3-${mode}`;
      assert.deepEqual(await ask(b.socket, "join", room), [[b.socket.id, room].sort()]);
      assert.deepEqual(
        await ask(a.socket, "emit-to", { to: [room], event: "message-back", args: ["to-room", bin(3)] }),
        ["ok"],
      );
      assert.deepEqual(await b.log.nextArgs("message-back"), ["to-room", bin(3)]);
    });

    it("a client-side close reaches the server as client namespace disconnect", async () => {
      const observer = ioV4(server().url + "/observer", {
        forceNew: true,
        reconnection: false,
        transports: ["websocket"],
      });
      try {
        await within(new Promise<void>((resolve) => observer.once("connect", () => resolve())), WAIT_MS, "observer");
        const c = await connectClient(server().url, { mode, nsp: "/custom" });
        const id = c.socket.id;
        const seen = within(
          new Promise<unknown>((resolve) =>
            observer.on("disconnected", (d: { id: string }) => {
              if (d.id === id) resolve(d);
            }),
          ),
          WAIT_MS,
          "the server-side disconnect",
        );
        c.socket.close();
        assert.deepEqual(await seen, { id, nsp: "/custom", reason: "client namespace disconnect" });
      } finally {
        observer.close();
      }
    });

    it("a server-side disconnect is final: io server disconnect", async () => {
      const c = await connectClient(server().url, { mode });
      c.socket.emit("disconnect-me", false);
      assert.deepEqual(await c.log.nextArgs("disconnect"), ["io server disconnect"]);
    });

    if (mode !== "upgrade") {
      it("binary as base64 (forceBase64, b64=1)", async () => {
        const c = await connectClient(server().url, { mode, forceBase64: true });
        const args = [bin(0, 1, 2, 250), "t", { n: bin(7) }];
        c.socket.emit("message", ...args);
        assert.deepEqual(await c.log.nextArgs("message-back"), args);
        assert.deepEqual(await ask(c.socket, "message-with-ack", bin(6)), [bin(6)]);
      });
    }
  });
}

describe("socket.io-client 2.x: refused namespaces", { timeout: 20_000 }, () => {
  it("a middleware's refusal is an error event with the error's data", async () => {
    const c = createClient(server().url, { nsp: "/mw" });
    assert.deepEqual(await c.log.next("error"), { code: "unauthorized", reason: "bad token" });
    assert.equal(c.socket.connected, false);
  });

  it("a middleware reads the namespace query as auth", async () => {
    const c = await connectClient(server().url, { nsp: "/mw", query: { token: "secret" } });
    assert.deepEqual(await c.log.next("auth"), { token: "secret" });
  });

  it("an unknown namespace is refused: Invalid namespace", async () => {
    const c = createClient(server().url, { nsp: "/nope" });
    assert.deepEqual(await c.log.next("error"), { message: "Invalid namespace" });
  });

  it("a dynamic namespace", async () => {
    const c = await connectClient(server().url, { nsp: "/dyn-42" });
    assert.equal(await c.log.next("nsp"), "/dyn-42");
  });
});

describe("socket.io-client 2.x: the client's heartbeat", { timeout: 30_000 }, () => {
  const PING_INTERVAL = 200;
  const PING_TIMEOUT = 2000;
  const fast = useServer({ allowEIO3: true, pingInterval: PING_INTERVAL, pingTimeout: PING_TIMEOUT });

  /** Resolves after the client has had `n` pongs, failing on a disconnect first. */
  function pongs(socket: V2Socket, n: number): Promise<void> {
    return within(
      new Promise<void>((resolve, reject) => {
        let seen = 0;
        socket.io.on("pong", () => {
          if (++seen === n) resolve();
        });
        socket.on("disconnect", (reason: string) => reject(new Error(`disconnected: ${reason}`)));
      }),
      n * PING_INTERVAL + WAIT_MS,
      `${n} pongs`,
    );
  }

  for (const mode of MODES) {
    it(`client pings keep the session open over ${mode}`, async () => {
      const c = await connectClient(fast().url, { mode });
      const sid = c.socket.io.engine.id;
      // Five pings are five pingIntervals, over twice the client's own
      // wait for a pong and longer than any server ping would take.
      await pongs(c.socket, 5);
      assert.equal(c.socket.io.engine.id, sid, "the same session");
      assert.ok(c.socket.connected);
      assert.deepEqual(await ask(c.socket, "message-with-ack", "still here"), ["still here"]);
      assert.equal(c.log.has("disconnect"), false);
    });
  }

  it("a v3 session that stops pinging is closed after pingInterval + pingTimeout", async () => {
    // A raw v3 polling client that never pings: its held GET is answered
    // with the close packet, and the session is gone.
    const base = fast().url;
    const start = Date.now();
    const hs = await http(eioUrl(base, { EIO: "3", transport: "polling" }));
    assert.equal(hs.status, 200);
    const m = /^\d+:0(\{.*?\})(?:\d+:|$)/.exec(hs.body);
    assert.ok(m, `v3 handshake payload: ${hs.body}`);
    const { sid } = JSON.parse(m[1]!) as { sid: string };
    const url = eioUrl(base, { EIO: "3", transport: "polling", sid });
    let body = "";
    // Each GET is held until the server has something: the "/" CONNECT
    // (if the handshake did not carry it), then the close.
    for (let i = 0; i < 3 && !body.endsWith("1:1"); i++) {
      const res = await http(url, {}, PING_INTERVAL + PING_TIMEOUT + WAIT_MS);
      assert.equal(res.status, 200);
      body = res.body;
    }
    assert.equal(body.slice(-3), "1:1", `the close packet, got ${JSON.stringify(body)}`);
    assert.ok(Date.now() - start >= PING_INTERVAL + PING_TIMEOUT - 50, "not before pingInterval + pingTimeout");
    assert.equal((await http(url)).status, 400);
  });
});

describe("socket.io-client 2.x beside connection state recovery", { timeout: 20_000 }, () => {
  const recovering = useServer({ allowEIO3: true, recovery: true, pingInterval: 1000, pingTimeout: 5000 });

  it("a broadcast ends with the recovery offset as an extra argument, as Node sends it to every client", async () => {
    const c = await connectClient(recovering().url);
    assert.deepEqual(await ask(c.socket, "emit-to", { event: "message-back", args: ["x", bin(1)] }), ["ok"]);
    const args = await c.log.nextArgs("message-back");
    assert.equal(args.length, 3, `arguments ${JSON.stringify(args)}`);
    assert.deepEqual(args.slice(0, 2), ["x", bin(1)]);
    assert.equal(typeof args[2], "string");
    // A 2.x client's socket is never recovered: it connects anew.
    assert.deepEqual(await c.log.next("info"), { id: c.socket.id, recovered: false });
  });
});

describe("without --allow-eio3", { timeout: 20_000 }, () => {
  const plain = useServer({ pingInterval: 1000, pingTimeout: 5000 });

  it("an EIO=3 handshake is refused: 400 Unsupported protocol version", async () => {
    const res = await http(eioUrl(plain().url, { EIO: "3", transport: "polling" }));
    assert.equal(res.status, 400);
    assert.deepEqual(JSON.parse(res.body), { code: 5, message: "Unsupported protocol version" });
  });

  it("socket.io-client 2.x cannot connect", async () => {
    const c = createClient(plain().url, { mode: "polling" });
    await c.log.next("connect_error");
    assert.equal(c.socket.connected, false);
  });
});
