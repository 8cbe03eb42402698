// The public Socket.IO v5 protocol test suite (socketio/socket.io-protocol,
// test-suite/test-suite.js, the Engine.IO v4 version), one test here per
// test there, same describe/it names, against the profile's Socket.IO server
// at /socket.io/. Written from the public suite's assertions, not copied;
// where it sleeps, these tests wait for an event or poll (bounded) instead.
// README.md maps every case and lists where the assertions differ from the
// public text.

import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import { http, packets } from "../../protocol/raw.ts";
import { WAIT_MS, within } from "../../protocol/util.ts";
import { PROFILE, useConformanceServer } from "../server.ts";
import {
  Polling,
  WsClient,
  assertEngineError,
  assertOpenPacket,
  assertRefused,
  assertSecondWsClosed,
  assertSessionUnknown,
  closeAllWs,
  closeWhilePolling,
  engineUrl,
  probeAndUpgrade,
  wsUrl,
  type WsOptions,
} from "../wire.ts";

const PATH = "/socket.io/";
const server = useConformanceServer();
const base = (): string => server().url;

afterEach(() => closeAllWs());

/** Asserts a CONNECT ack ("40" + namespace prefix + {"sid"}) with nothing but the sid. */
function assertConnectAck(pkt: string, prefix = ""): void {
  assert.ok(pkt.startsWith(`40${prefix}`), `expected a CONNECT ack for "${prefix || "/"}", got ${pkt}`);
  const data = JSON.parse(pkt.slice(2 + prefix.length)) as Record<string, unknown>;
  assert.deepEqual(Object.keys(data), ["sid"]);
  assert.equal(typeof data.sid, "string");
}

/**
 * A WebSocket session connected to "/" (CONNECT, its ack and the "auth" event
 * read). With `pong: false` a ping may come first on a slow machine (the
 * profile pings every 300 ms): it is answered here, so that the caller's
 * heartbeat starts from a clean state.
 */
async function connectMain(opts: WsOptions = {}): Promise<WsClient> {
  const { ws } = await WsClient.session(base(), PATH, opts);
  ws.send("40");
  const next = async (): Promise<string> => {
    for (;;) {
      const pkt = await ws.nextText();
      if (pkt !== "2") return pkt;
      ws.send("3");
    }
  };
  assertConnectAck(await next());
  assert.equal(await next(), '42["auth",{}]');
  return ws;
}

/**
 * A polling session connected to "/". The heartbeat tests connect first so
 * that the connect timeout (1000 ms) cannot end the session: only the
 * heartbeat is then under test (see README.md).
 */
async function pollingMain(): Promise<Polling> {
  const s = await Polling.open(base(), PATH);
  await s.send("40");
  const res = await s.get();
  assert.equal(res.status, 200);
  const [ack, auth, ...rest] = packets(res.body);
  assertConnectAck(ack ?? "");
  assert.equal(auth, '42["auth",{}]');
  // On a slow machine the first ping (300 ms after the handshake) can join
  // the batch: answered here, so the caller's heartbeat starts clean.
  if (rest.length > 0) {
    assert.deepEqual(rest, ["2"]);
    await s.send("3");
  }
  return s;
}

/**
 * Upgrades a polling session to WebSocket and returns once the server has
 * completed the upgrade: a CONNECT sent after the upgrade packet is
 * answered over the WebSocket only when the WebSocket is the session's
 * transport.
 */
async function upgraded(): Promise<{ polling: Polling; ws: WsClient }> {
  const { polling, ws } = await probeAndUpgrade(base(), PATH);
  ws.send("40");
  assertConnectAck(await ws.nextText());
  assert.equal(await ws.nextText(), '42["auth",{}]');
  return { polling, ws };
}

/** Sends `pkt` on a connected session and expects the server to close it without answering. */
async function assertClosedBy(pkt: string): Promise<void> {
  const ws = await connectMain(); // pings answered: only `pkt` can end the session
  ws.send(pkt);
  await ws.waitClosed();
  assert.deepEqual(ws.unread(), [], `no packet in answer to ${pkt}`);
}

describe("Engine.IO protocol", { timeout: 60_000 }, () => {
  describe("handshake", () => {
    describe("HTTP long-polling", () => {
      it("should successfully open a session", async () => {
        const res = await http(engineUrl(base(), PATH, "EIO=4&transport=polling"));
        assert.equal(res.status, 200);
        assert.ok(!res.body.includes("\x1e"), "a single packet");
        assertOpenPacket(res.body, ["websocket"]);
      });

      it("should fail with an invalid 'EIO' query parameter", async () => {
        assertEngineError(await http(engineUrl(base(), PATH, "transport=polling")), 5, "Unsupported protocol version");
        assertEngineError(
          await http(engineUrl(base(), PATH, "EIO=abc&transport=polling")),
          5,
          "Unsupported protocol version",
        );
      });

      it("should fail with an invalid 'transport' query parameter", async () => {
        assertEngineError(await http(engineUrl(base(), PATH, "EIO=4")), 0, "Transport unknown");
        assertEngineError(await http(engineUrl(base(), PATH, "EIO=4&transport=abc")), 0, "Transport unknown");
      });

      it("should fail with an invalid request method", async () => {
        const url = engineUrl(base(), PATH, "EIO=4&transport=polling");
        assertEngineError(await http(url, { method: "POST" }), 2, "Bad handshake method");
        assertEngineError(await http(url, { method: "PUT" }), 2, "Bad handshake method");
      });
    });

    describe("WebSocket", () => {
      it("should successfully open a session", async () => {
        const { ws } = await WsClient.session(base(), PATH);
        assert.ok(ws.isOpen);
      });

      it("should fail with an invalid 'EIO' query parameter", async () => {
        // Node accepts the upgrade, then writes an HTTP 400 onto the
        // WebSocket; Parley refuses the upgrade with a 400. Either way: no
        // session, no packet, no close frame.
        for (const query of ["transport=websocket", "EIO=abc&transport=websocket"]) {
          await assertRefused(base(), PATH, query);
        }
      });

      it("should fail with an invalid 'transport' query parameter", async () => {
        for (const query of ["EIO=4", "EIO=4&transport=abc"]) {
          const errors = await assertRefused(base(), PATH, query);
          assert.equal(errors[0]?.message, "Unexpected server response: 400");
        }
      });
    });
  });

  describe("heartbeat", () => {
    describe("HTTP long-polling", () => {
      it("should send ping/pong packets", async () => {
        const s = await pollingMain();
        for (let i = 0; i < 3; i++) {
          const res = await s.get();
          assert.equal(res.status, 200);
          assert.equal(res.body, "2", `ping ${i + 1}`);
          await s.send("3");
        }
      });

      it("should close the session upon ping timeout", async () => {
        const s = await pollingMain();
        const ping = await s.get();
        assert.equal(ping.status, 200);
        assert.equal(ping.body, "2");
        // No pong: the next poll is held until the ping timeout and answered
        // with the close packet; then the session is unknown. (The public
        // suite sleeps pingInterval + pingTimeout instead.)
        assertSessionUnknown(await s.getUntilRejected((pkts) => pkts.length === 1 && pkts[0] === "1"));
      });
    });

    describe("WebSocket", () => {
      it("should send ping/pong packets", async () => {
        const ws = await connectMain({ pong: false });
        for (let i = 0; i < 3; i++) {
          assert.equal(await ws.next(), "2", `ping ${i + 1}`);
          ws.send("3");
        }
        assert.ok(ws.isOpen);
      });

      it("should close the session upon ping timeout", async () => {
        const ws = await connectMain({ pong: false });
        assert.equal(await ws.next(), "2");
        await ws.waitClosed();
        assert.deepEqual(ws.unread(), [], "nothing after the unanswered ping");
      });
    });
  });

  describe("close", () => {
    describe("HTTP long-polling", () => {
      it("should forcefully close the session", async () => {
        const { session, poll, post } = await closeWhilePolling(base(), PATH);
        assert.equal(post.status, 200);
        assert.equal(post.body, "ok");
        assert.equal(poll.status, 200, `held GET (body ${poll.body})`);
        assert.equal(poll.body, "6", "the GET is released with a noop");
        assertSessionUnknown(await session.get());
      });
    });

    describe("WebSocket", () => {
      it("should forcefully close the session", async () => {
        // As in the public suite, pings go unanswered. Node ignores a close
        // packet on WebSocket and ends the session by ping timeout; Parley
        // closes it at once (see README.md).
        const { ws } = await WsClient.session(base(), PATH, { pong: false });
        ws.send("1");
        await ws.waitClosed();
        assert.ok(
          ws.unread().every((f) => f === "2"),
          "only pings before the close",
        );
      });
    });
  });

  describe("upgrade", () => {
    it("should successfully upgrade from HTTP long-polling to WebSocket", async () => {
      const { ws } = await upgraded();
      ws.send('42["message","over websocket"]');
      assert.equal(await ws.nextText(), '42["message-back","over websocket"]');
    });

    it("should ignore HTTP requests with same sid after upgrade", async () => {
      // As in the public suite, the GET goes out right after the upgrade
      // packet: the upgrade must have taken effect before it is served.
      // Then a CONNECT over the WebSocket shows it is the session's
      // transport.
      const { polling, ws } = await probeAndUpgrade(base(), PATH);
      assertEngineError(await polling.get(), 3, "Bad request");
      ws.send("40");
      assertConnectAck(await ws.nextText());
      assert.equal(await ws.nextText(), '42["auth",{}]');
    });

    it("should ignore WebSocket connection with same sid after upgrade", async () => {
      // As in the public suite, the second WebSocket is opened right after
      // the upgrade packet; it must open, then be closed by the server.
      const { polling, ws } = await probeAndUpgrade(base(), PATH);
      await assertSecondWsClosed(base(), PATH, polling.sid);
      ws.send("40");
      assertConnectAck(await ws.nextText());
      assert.equal(await ws.nextText(), '42["auth",{}]');
      ws.send('42["message","still here"]');
      assert.equal(await ws.nextText(), '42["message-back","still here"]');
    });
  });
});

describe("Socket.IO protocol", { timeout: 60_000 }, () => {
  describe("connect", () => {
    it("should allow connection to the main namespace", async () => {
      const { ws } = await WsClient.session(base(), PATH);
      ws.send("40");
      assertConnectAck(await ws.nextText());
      assert.equal(await ws.nextText(), '42["auth",{}]');
    });

    it("should allow connection to the main namespace with a payload", async () => {
      const { ws } = await WsClient.session(base(), PATH);
      ws.send('40{"token":"123"}');
      assertConnectAck(await ws.nextText());
      assert.equal(await ws.nextText(), '42["auth",{"token":"123"}]');
    });

    it("should allow connection to a custom namespace", async () => {
      const { ws } = await WsClient.session(base(), PATH);
      ws.send("40/custom,");
      assertConnectAck(await ws.nextText(), "/custom,");
      assert.equal(await ws.nextText(), '42/custom,["auth",{}]');
    });

    it("should allow connection to a custom namespace with a payload", async () => {
      const { ws } = await WsClient.session(base(), PATH);
      ws.send('40/custom,{"token":"abc"}');
      assertConnectAck(await ws.nextText(), "/custom,");
      assert.equal(await ws.nextText(), '42/custom,["auth",{"token":"abc"}]');
    });

    it("should disallow connection to an unknown namespace", async () => {
      const { ws } = await WsClient.session(base(), PATH);
      ws.send("40/random");
      assert.equal(await ws.nextText(), '44/random,{"message":"Invalid namespace"}');
    });

    it("should disallow connection with an invalid handshake", async () => {
      const { ws } = await WsClient.session(base(), PATH); // pings answered
      ws.send("4abc");
      await ws.waitClosed();
      assert.deepEqual(ws.unread(), [], "no packet in answer");
    });

    it("should close the connection if no handshake is received", async () => {
      // Pings are answered, so what closes the session is the connect
      // timeout; it cannot have fired before connectTimeout had passed.
      const started = Date.now();
      const { ws } = await WsClient.session(base(), PATH);
      await ws.waitClosed();
      const elapsed = Date.now() - started;
      assert.ok(elapsed >= PROFILE.connectTimeout * 0.9, `closed after ${elapsed} ms`);
      assert.deepEqual(ws.unread(), [], "no packet before the close");
    });
  });

  describe("disconnect", () => {
    it("should disconnect from the main namespace", async () => {
      const ws = await connectMain({ pong: false });
      ws.send("41");
      // The connection stays open: the next thing the server sends is a ping.
      assert.equal(await ws.next(), "2");
      assert.ok(ws.isOpen);
    });

    it("should connect then disconnect from a custom namespace", async () => {
      const ws = await connectMain({ pong: false });
      assert.equal(await ws.next(), "2");
      ws.send("3");
      ws.pong = true;
      ws.send("40/custom");
      assertConnectAck(await ws.nextText(), "/custom,");
      assert.equal(await ws.nextText(), '42/custom,["auth",{}]');
      ws.send("41/custom");
      ws.send('42["message","message to main namespace"]');
      assert.equal(await ws.nextText(), '42["message-back","message to main namespace"]');
    });
  });

  describe("message", () => {
    it("should send a plain-text packet", async () => {
      const ws = await connectMain();
      ws.send('42["message",1,"2",{"3":[true]}]');
      assert.equal(await ws.nextText(), '42["message-back",1,"2",{"3":[true]}]');
    });

    it("should send a packet with binary attachments", async () => {
      const ws = await connectMain();
      ws.send('452-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]');
      ws.send(Uint8Array.from([1, 2, 3]));
      ws.send(Uint8Array.from([4, 5, 6]));
      const [header, first, second] = await ws.nextFrames(3);
      assert.equal(header, '452-["message-back",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]');
      assert.deepEqual(first, Buffer.from([1, 2, 3]));
      assert.deepEqual(second, Buffer.from([4, 5, 6]));
    });

    it("should send a plain-text packet with an ack", async () => {
      const ws = await connectMain();
      ws.send('42456["message-with-ack",1,"2",{"3":[false]}]');
      assert.equal(await ws.nextText(), '43456[1,"2",{"3":[false]}]');
    });

    it("should send a packet with binary attachments and an ack", async () => {
      const ws = await connectMain();
      ws.send('452-789["message-with-ack",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]');
      ws.send(Uint8Array.from([1, 2, 3]));
      ws.send(Uint8Array.from([4, 5, 6]));
      const [header, first, second] = await ws.nextFrames(3);
      assert.equal(header, '462-789[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]');
      assert.deepEqual(first, Buffer.from([1, 2, 3]));
      assert.deepEqual(second, Buffer.from([4, 5, 6]));
    });

    it("should close the connection upon invalid format (unknown packet type)", async () => {
      await assertClosedBy("4abc");
    });

    it("should close the connection upon invalid format (invalid payload format)", async () => {
      await assertClosedBy("42{}");
    });

    it("should close the connection upon invalid format (invalid ack id)", async () => {
      await assertClosedBy('42abc["message-with-ack",1,"2",{"3":[false]}]');
    });
  });
});
