// Engine.IO v4 on the wire, with raw clients: handshake JSON, HTTP error
// codes and bodies, CORS, payload framing, binary framing, heartbeat, the
// polling → websocket upgrade, and connectTimeout.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import WebSocket from "ws";
import { useServer } from "../harness.ts";
import { RawPolling, RawWs, SEP, eioUrl, http, packets, parseOpen } from "../raw.ts";
import { RELAXED_HEARTBEAT, WAIT_MS, connectObserver, useSuiteServer, within } from "../util.ts";

const server = useSuiteServer({ connectTimeout: 1000 });
const PING_INTERVAL = RELAXED_HEARTBEAT.pingInterval!;
const PING_TIMEOUT = RELAXED_HEARTBEAT.pingTimeout!;

const HANDSHAKE_KEYS = ["maxPayload", "pingInterval", "pingTimeout", "sid", "upgrades"];

interface ErrorBody {
  code: number;
  message: string;
}

async function expectError(url: string, init: RequestInit, code: number, message: string): Promise<void> {
  const res = await http(url, init);
  assert.equal(res.status, 400, `status for ${init.method ?? "GET"} ${url}`);
  assert.match(res.headers.get("content-type") ?? "", /^application\/json/);
  assert.deepEqual(JSON.parse(res.body) as ErrorBody, { code, message });
}

describe("engine.io handshake", { timeout: 20_000 }, () => {
  it("polling handshake: one open packet, exact keys and values", async () => {
    const res = await http(eioUrl(server().url, { EIO: "4", transport: "polling" }));
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^text\/plain; ?charset=utf-8$/i);
    assert.ok(res.body.startsWith("0"), `body starts with the open packet type: ${res.body}`);
    assert.ok(!res.body.includes(SEP), "the handshake response holds a single packet");
    const hs = JSON.parse(res.body.slice(1)) as Record<string, unknown>;
    assert.deepEqual(Object.keys(hs).sort(), HANDSHAKE_KEYS);
    assert.equal(typeof hs.sid, "string");
    assert.ok((hs.sid as string).length > 0);
    assert.deepEqual(hs.upgrades, ["websocket"]);
    assert.equal(hs.pingInterval, PING_INTERVAL);
    assert.equal(hs.pingTimeout, PING_TIMEOUT);
    assert.equal(hs.maxPayload, 1_000_000);
  });

  it("every handshake gets a new sid", async () => {
    const a = await RawPolling.open(server().url);
    const b = await RawPolling.open(server().url);
    assert.notEqual(a.sid, b.sid);
  });

  it("websocket handshake: open packet first, no further upgrades", async () => {
    const raw = await RawWs.open(server().url);
    const first = await raw.next();
    assert.equal(typeof first, "string");
    const hs = JSON.parse((first as string).slice(1)) as Record<string, unknown>;
    assert.equal((first as string)[0], "0");
    assert.deepEqual(Object.keys(hs).sort(), HANDSHAKE_KEYS);
    assert.deepEqual(hs.upgrades, []);
    assert.equal(hs.pingInterval, PING_INTERVAL);
    assert.equal(hs.pingTimeout, PING_TIMEOUT);
    assert.equal(hs.maxPayload, 1_000_000);
    raw.close();
  });

  it("the Socket.IO CONNECT ack carries the socket id and, without recovery, no pid", async () => {
    const raw = await RawPolling.open(server().url);
    const { sid, received } = await raw.connect();
    const ack = received.find((p) => p.startsWith("40"))!;
    const data = JSON.parse(ack.slice(2)) as Record<string, unknown>;
    assert.deepEqual(Object.keys(data), ["sid"]);
    assert.notEqual(sid, raw.sid, "the Socket.IO id is not the Engine.IO sid");
  });

  it("CONNECT to a custom namespace is acked with the namespace prefix", async () => {
    const raw = await RawWs.open(server().url);
    await raw.handshake();
    raw.send('40/custom,{"k":"v"}');
    const ack = await raw.nextMatching((f) => f.startsWith("40/custom,"));
    const data = JSON.parse(ack.slice("40/custom,".length)) as { sid: string };
    assert.equal(typeof data.sid, "string");
    const auth = await raw.nextMatching((f) => f.startsWith("42/custom,"));
    assert.equal(auth, '42/custom,["auth",{"k":"v"}]');
    raw.close();
  });

  it('CONNECT to an unknown namespace is answered with 44/<nsp>,{"message":"Invalid namespace"}', async () => {
    const raw = await RawWs.open(server().url);
    await raw.handshake();
    raw.send("40/nope,");
    const err = await raw.nextMatching((f) => f.startsWith("44"));
    assert.equal(err, '44/nope,{"message":"Invalid namespace"}');
    // the connection itself stays usable
    const sid = await raw.connect("/");
    assert.equal(typeof sid, "string");
    raw.close();
  });

  it("middleware refusal carries message and data in the CONNECT_ERROR packet", async () => {
    const raw = await RawWs.open(server().url);
    await raw.handshake();
    raw.send("40/mw,");
    const err = await raw.nextMatching((f) => f.startsWith("44/mw,"));
    assert.deepEqual(JSON.parse(err.slice("44/mw,".length)), {
      message: "unauthorized",
      data: { code: "unauthorized", reason: "bad token" },
    });
    raw.close();
  });
});

describe("engine.io HTTP errors", { timeout: 20_000 }, () => {
  it('EIO=3 → 400 {code:5,"Unsupported protocol version"}', async () => {
    await expectError(eioUrl(server().url, { EIO: "3", transport: "polling" }), {}, 5, "Unsupported protocol version");
  });

  it("missing or other EIO versions → code 5", async () => {
    await expectError(eioUrl(server().url, { transport: "polling" }), {}, 5, "Unsupported protocol version");
    await expectError(eioUrl(server().url, { EIO: "5", transport: "polling" }), {}, 5, "Unsupported protocol version");
  });

  it('unknown or missing transport → 400 {code:0,"Transport unknown"}', async () => {
    await expectError(eioUrl(server().url, { EIO: "4", transport: "carrier-pigeon" }), {}, 0, "Transport unknown");
    await expectError(eioUrl(server().url, { EIO: "4" }), {}, 0, "Transport unknown");
  });

  it("the transport is checked before the session id", async () => {
    await expectError(eioUrl(server().url, { EIO: "4", transport: "nope", sid: "nope" }), {}, 0, "Transport unknown");
  });

  it('unknown sid → 400 {code:1,"Session ID unknown"} for GET and POST', async () => {
    const url = eioUrl(server().url, { EIO: "4", transport: "polling", sid: "does-not-exist" });
    await expectError(url, {}, 1, "Session ID unknown");
    await expectError(url, { method: "POST", body: "40", headers: { "Content-Type": "text/plain" } }, 1, "Session ID unknown");
  });

  it('POST without sid → 400 {code:2,"Bad handshake method"}', async () => {
    await expectError(
      eioUrl(server().url, { EIO: "4", transport: "polling" }),
      { method: "POST", body: "40", headers: { "Content-Type": "text/plain" } },
      2,
      "Bad handshake method",
    );
  });

  it('websocket transport over plain GET (no Upgrade) → 400 {code:3,"Bad request"}', async () => {
    await expectError(eioUrl(server().url, { EIO: "4", transport: "websocket" }), {}, 3, "Bad request");
  });

  it('an existing polling sid requested with transport=websocket without Upgrade → 400 {code:3,"Bad request"}', async () => {
    const raw = await RawPolling.open(server().url);
    await expectError(eioUrl(server().url, { EIO: "4", transport: "websocket", sid: raw.sid }), {}, 3, "Bad request");
  });

  it("websocket upgrade with an unknown sid is refused with HTTP 400", async () => {
    const ws = new WebSocket(eioUrl(server().url.replace(/^http/, "ws"), { EIO: "4", transport: "websocket", sid: "nope" }));
    const status = await within(
      new Promise<number>((resolve, reject) => {
        ws.once("unexpected-response", (_req, res) => {
          resolve(res.statusCode ?? 0);
          res.resume();
        });
        ws.once("open", () => reject(new Error("upgrade with an unknown sid was accepted")));
        ws.once("error", () => undefined);
      }),
      WAIT_MS,
      "websocket refusal",
    );
    ws.terminate();
    assert.equal(status, 400);
  });

  it('two concurrent GETs on one session → the second gets 400 and the session closes ("transport error")', async () => {
    const observer = await connectObserver(server());
    const raw = await RawPolling.open(server().url);
    const sid = await raw.connectMain();
    // Align on a heartbeat (answered by pollUntil) so that no ping is due for
    // the next pingInterval (300 ms). Nothing is queued then, so whichever
    // GET reaches the server first is parked and the other one overlaps it.
    await raw.pollUntil((p) => p === "2");
    const results = await Promise.all([raw.get(), raw.get()]);
    const statuses = results.map((r) => r.status).sort();
    assert.deepEqual(statuses, [200, 400], "one poll is refused, the parked one is released");
    const released = results.find((r) => r.status === 200)!;
    assert.deepEqual(packets(released.body), ["1"], "the parked poll is released with the close packet");
    assert.deepEqual(await observer.reasonFor(sid), { id: sid, nsp: "/", reason: "transport error" });
    const after = await raw.get();
    assert.equal(after.status, 400);
    assert.deepEqual(JSON.parse(after.body), { code: 1, message: "Session ID unknown" });
  });
});

describe("CORS", { timeout: 20_000 }, () => {
  const origin = "http://app.example.test:8080";

  it("preflight OPTIONS → 204 reflecting the origin, with credentials", async () => {
    const res = await http(eioUrl(server().url, { EIO: "4", transport: "polling" }), {
      method: "OPTIONS",
      headers: { Origin: origin, "Access-Control-Request-Method": "POST" },
    });
    assert.equal(res.status, 204);
    assert.equal(res.headers.get("access-control-allow-origin"), origin);
    assert.equal(res.headers.get("access-control-allow-credentials"), "true");
    assert.match(res.headers.get("access-control-allow-methods") ?? "", /POST/);
    assert.equal(res.body, "");
  });

  it("a cross-origin handshake reflects the origin, with credentials", async () => {
    const res = await http(eioUrl(server().url, { EIO: "4", transport: "polling" }), { headers: { Origin: origin } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("access-control-allow-origin"), origin);
    assert.equal(res.headers.get("access-control-allow-credentials"), "true");
    parseOpen(packets(res.body)[0]!);
  });

  it("error responses carry the CORS headers too", async () => {
    const res = await http(eioUrl(server().url, { EIO: "4", transport: "polling", sid: "nope" }), {
      headers: { Origin: origin },
    });
    assert.equal(res.status, 400);
    assert.equal(res.headers.get("access-control-allow-origin"), origin);
    assert.equal(res.headers.get("access-control-allow-credentials"), "true");
  });
});

describe("engine.io framing", { timeout: 20_000 }, () => {
  it("a POST may carry several packets separated by \\x1e; each is processed in order", async () => {
    const raw = await RawPolling.open(server().url);
    await raw.connect();
    await raw.send('421["message-with-ack","a"]', '422["message-with-ack","b"]', '42["message",1,{"x":null}]');
    const got = await raw.pollUntil((p) => p.startsWith('42["message-back"'));
    const relevant = got.filter((p) => p.startsWith("43") || p.startsWith('42["message-back"'));
    assert.deepEqual(relevant, ['431["a"]', '432["b"]', '42["message-back",1,{"x":null}]']);
  });

  it("binary over polling: base64 'b' packets both ways, placeholders in the JSON", async () => {
    const raw = await RawPolling.open(server().url);
    await raw.connectMain();
    const bin = Buffer.from([0, 1, 2, 250, 255]);
    await raw.send('451-["message",{"f":{"_placeholder":true,"num":0}}]', `b${bin.toString("base64")}`);
    const got = await raw.pollUntil((p) => p.startsWith("b"));
    const i = got.findIndex((p) => p.startsWith("451-"));
    assert.ok(i >= 0, `binary event header received: ${JSON.stringify(got)}`);
    assert.equal(got[i], '451-["message-back",{"f":{"_placeholder":true,"num":0}}]');
    assert.equal(got[i + 1], `b${bin.toString("base64")}`);
  });

  it("binary over websocket: attachments are raw binary frames after the header", async () => {
    const raw = await RawWs.open(server().url);
    await raw.handshake();
    await raw.connectMain();
    const b1 = Buffer.from([1, 2, 3]);
    const b2 = Buffer.from([]);
    raw.send('452-["message",{"_placeholder":true,"num":0},"s",[{"_placeholder":true,"num":1}]]');
    raw.send(b1);
    raw.send(b2);
    const header = await raw.nextMatching((f) => f.startsWith("45"));
    assert.equal(header, '452-["message-back",{"_placeholder":true,"num":0},"s",[{"_placeholder":true,"num":1}]]');
    const f1 = await raw.next();
    const f2 = await raw.next();
    assert.ok(Buffer.isBuffer(f1) && f1.equals(b1), "first attachment as a binary frame");
    assert.ok(Buffer.isBuffer(f2) && f2.equals(b2), "second attachment as a binary frame");
    raw.close();
  });

  it("binary acknowledgement uses the 6 (BINARY_ACK) packet type", async () => {
    const raw = await RawWs.open(server().url);
    await raw.handshake();
    await raw.connect();
    raw.send('451-17["message-with-ack",{"_placeholder":true,"num":0}]');
    raw.send(Buffer.from([9, 9]));
    const header = await raw.nextMatching((f) => f.startsWith("46"));
    assert.equal(header, '461-17[{"_placeholder":true,"num":0}]');
    const att = await raw.next();
    assert.ok(Buffer.isBuffer(att) && att.equals(Buffer.from([9, 9])));
    raw.close();
  });

  it("numeric event names are accepted; ack ids may be large", async () => {
    const raw = await RawWs.open(server().url);
    await raw.handshake();
    await raw.connect();
    raw.send('42123456789["message-with-ack",{"n":1}]');
    assert.equal(await raw.nextMatching((f) => f.startsWith("43")), '43123456789[{"n":1}]');
    raw.close();
  });
});

describe("engine.io upgrade (raw)", { timeout: 20_000 }, () => {
  it("polling → websocket: 2probe/3probe, then 5; the pending poll is released with a noop", async () => {
    const poll = await RawPolling.open(server().url);
    await poll.connectMain();
    // Align on a heartbeat (answered by pollUntil): no ping is due for the
    // next pingInterval, so the following GET is parked with nothing to send.
    await poll.pollUntil((p) => p === "2");
    const pending = poll.get();
    const ws = await RawWs.open(server().url, { sid: poll.sid });
    ws.send("2probe");
    assert.equal(await ws.next(), "3probe");
    const released = await pending;
    assert.equal(released.status, 200);
    assert.ok(packets(released.body).includes("6"), `pending poll released with noop: ${released.body}`);
    ws.send("5");
    ws.send('421["message-with-ack","over ws"]');
    assert.equal(await ws.nextMatching((f) => f.startsWith("431")), '431["over ws"]');
    // the session now lives on the websocket: polling it is a transport mismatch
    await expectError(poll.url(), {}, 3, "Bad request");
    ws.close();
  });
});

describe("connectTimeout", { timeout: 20_000 }, () => {
  it("a polling session that never sends a Socket.IO CONNECT is closed after connectTimeout", async () => {
    const raw = await RawPolling.open(server().url);
    const started = Date.now();
    const deadline = started + 3000;
    let closedHow = "";
    while (!closedHow && Date.now() < deadline) {
      const res = await raw.get(Math.max(1, deadline - Date.now()));
      if (res.status === 400) {
        assert.deepEqual(JSON.parse(res.body), { code: 1, message: "Session ID unknown" });
        closedHow = "unknown sid";
        break;
      }
      assert.equal(res.status, 200);
      const got = packets(res.body);
      if (got.includes("1")) closedHow = "close packet";
      else if (got.includes("2")) await raw.send("3"); // stay alive: only connectTimeout may close us
    }
    const elapsed = Date.now() - started;
    assert.ok(closedHow, "session closed within 3 s");
    assert.ok(elapsed >= 800, `closed after ${elapsed} ms, before connectTimeout (1000 ms)`);
  });

  it("a websocket session that never sends a Socket.IO CONNECT is closed after connectTimeout", async () => {
    const raw = await RawWs.open(server().url);
    const started = Date.now();
    await raw.handshake();
    // answer pings meanwhile so that only connectTimeout can close us
    const pinger = (async () => {
      for (;;) await raw.nextMatching(() => false, { ms: 3000 });
    })().catch(() => undefined);
    await within(raw.closed, 3000, "server closing the websocket");
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 800, `closed after ${elapsed} ms, before connectTimeout (1000 ms)`);
    await pinger;
  });

  it("a session that sent CONNECT is not closed by connectTimeout", async () => {
    const raw = await RawWs.open(server().url);
    await raw.handshake();
    await raw.connect();
    const started = Date.now();
    // keep answering pings until well past connectTimeout (1000 ms)
    while (Date.now() - started < 1500) await raw.nextMatching((f) => f === "2");
    assert.ok(raw.isOpen);
    raw.send('421["message-with-ack","alive"]');
    assert.equal(await raw.nextMatching((f) => f.startsWith("431")), '431["alive"]');
    raw.close();
  });
});

describe("engine.io heartbeat (pingInterval 300)", { timeout: 20_000 }, () => {
  // pingTimeout is generous so that a loaded machine cannot fail the test;
  // the ping timeout itself is covered in disconnect.test.ts.
  const hb = useServer({ pingInterval: 300, pingTimeout: 2000 });

  it("the server pings every pingInterval and a ponging client stays connected", async () => {
    const raw = await RawWs.open(hb().url);
    await raw.handshake();
    await raw.connect();
    const started = Date.now();
    for (let i = 0; i < 3; i++) await raw.nextMatching((f) => f === "2"); // answered with "3"
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 2 * 300 - 50, `three pings took ${elapsed} ms`);
    assert.ok(raw.isOpen, "still connected after several heartbeats");
    raw.send('421["message-with-ack","alive"]');
    assert.equal(await raw.nextMatching((f) => f.startsWith("431")), '431["alive"]');
    raw.close();
  });
});

describe("contract defaults (no flags)", { timeout: 20_000 }, () => {
  const plain = useServer();

  it("pingInterval 300, pingTimeout 200, maxPayload 1000000", async () => {
    const raw = await RawPolling.open(plain().url);
    assert.equal(raw.handshake.pingInterval, 300);
    assert.equal(raw.handshake.pingTimeout, 200);
    assert.equal(raw.handshake.maxPayload, 1_000_000);
    assert.deepEqual(raw.handshake.upgrades, ["websocket"]);
  });

  it("GET /healthz answers 200 ok", async () => {
    const res = await http(`${plain().url}/healthz`);
    assert.equal(res.status, 200);
    assert.equal(res.body, "ok");
  });
});
