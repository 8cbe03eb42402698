// Protocol violations: a raw client that sends garbage is disconnected (with
// the server-side reason Node reports), and a well-behaved client on the same
// server keeps working.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { RawPolling, RawWs } from "../raw.ts";
import {
  WAIT_MS,
  ask,
  connectClient,
  connectObserver,
  useSuiteServer,
  within,
  type Client,
  type Observer,
} from "../util.ts";

const server = useSuiteServer();

interface Violation {
  name: string;
  /** frames sent after a successful CONNECT to "/" */
  frames: (string | Buffer)[];
  /** server-side disconnect reason Node reports */
  reason: string;
}

const VIOLATIONS: Violation[] = [
  { name: "unknown Engine.IO packet type 9", frames: ["9"], reason: "parse error" },
  { name: "Engine.IO ping from the client (wrong heartbeat direction in v4)", frames: ["2"], reason: "transport error" },
  { name: "EVENT with invalid JSON", frames: ['42["message",'], reason: "forced close" },
  { name: "EVENT whose payload is not an array", frames: ['42{"not":"an array"}'], reason: "forced close" },
  { name: "EVENT with a reserved event name", frames: ['42["disconnect"]'], reason: "forced close" },
  { name: "EVENT with a non-string, non-number event name", frames: ['42[{"a":1}]'], reason: "forced close" },
  { name: "unknown Socket.IO packet type 7", frames: ['47["x"]'], reason: "forced close" },
  { name: "empty Engine.IO message (no Socket.IO packet type)", frames: ["4"], reason: "forced close" },
  {
    name: "attachment placeholder out of range (count mismatch)",
    frames: ['451-["message",{"_placeholder":true,"num":1}]', Buffer.from([1])],
    reason: "forced close",
  },
  {
    name: "text packet while attachments are still expected",
    frames: ['452-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]', Buffer.from([1]), '42["message","x"]'],
    reason: "forced close",
  },
  { name: "binary frame with no binary packet pending", frames: [Buffer.from([1, 2, 3])], reason: "forced close" },
  { name: "malformed attachment count", frames: ['45x-["message"]'], reason: "forced close" },
  {
    name: "too many attachments (more than 10)",
    frames: ['4511-["message",{"_placeholder":true,"num":0}]'],
    reason: "forced close",
  },
  // socket.io's Client.close(): the engine close completes synchronously on
  // websocket, so the socket sees the engine's "forced close" first
  { name: "duplicate CONNECT to an already connected namespace", frames: ["40"], reason: "forced close" },
  { name: "EVENT for a namespace the client has not joined", frames: ['42/custom,["x"]'], reason: "forced close" },
];

async function assertHealthy(good: Client): Promise<void> {
  assert.equal(good.socket.connected, true, "the well-behaved client is still connected");
  assert.equal(await ask(good.socket, "message-with-ack", "still fine"), "still fine");
  good.socket.emit("message", { ok: true });
  assert.deepEqual(await good.log.nextArgs("message-back"), [{ ok: true }]);
}

async function expectDisconnected(observer: Observer, id: string, reason: string): Promise<void> {
  assert.deepEqual(await observer.reasonFor(id), { id, nsp: "/", reason });
}

describe("protocol violations over websocket", { timeout: 30_000 }, () => {
  for (const v of VIOLATIONS) {
    it(`${v.name} → connection closed (server reason "${v.reason}"); others unaffected`, async () => {
      const observer = await connectObserver(server());
      const good = await connectClient(server(), { mode: "websocket" });
      const raw = await RawWs.open(server().url);
      await raw.handshake();
      const id = await raw.connectMain();
      for (const f of v.frames) raw.send(f);
      await within(raw.closed, WAIT_MS, "the server closing the offending websocket");
      await expectDisconnected(observer, id, v.reason);
      await assertHealthy(good);
    });
  }

  it("garbage before any CONNECT closes the connection too", async () => {
    const good = await connectClient(server(), { mode: "websocket" });
    const raw = await RawWs.open(server().url);
    await raw.handshake();
    raw.send('42["message",');
    await within(raw.closed, WAIT_MS, "the server closing the offending websocket");
    await assertHealthy(good);
  });

  it("a CONNECT whose auth is not an object closes the connection", async () => {
    const good = await connectClient(server(), { mode: "websocket" });
    const raw = await RawWs.open(server().url);
    await raw.handshake();
    raw.send('40"not an object"');
    await within(raw.closed, WAIT_MS, "the server closing the offending websocket");
    await assertHealthy(good);
  });
});

describe("protocol violations over polling", { timeout: 30_000 }, () => {
  const cases: Violation[] = [
    { name: "unknown Engine.IO packet type 9", frames: ["9"], reason: "parse error" },
    { name: "EVENT with invalid JSON", frames: ['42["message",'], reason: "forced close" },
    {
      name: "attachment placeholder out of range (count mismatch)",
      frames: ['451-["message",{"_placeholder":true,"num":3}]', `b${Buffer.from([1]).toString("base64")}`],
      reason: "forced close",
    },
    { name: "duplicate CONNECT to an already connected namespace", frames: ["40"], reason: "forced server close" },
  ];
  for (const v of cases) {
    it(`${v.name} → session closed (server reason "${v.reason}"); others unaffected`, async () => {
      const observer = await connectObserver(server());
      const good = await connectClient(server(), { mode: "polling" });
      const raw = await RawPolling.open(server().url);
      const id = await raw.connectMain();
      await raw.post((v.frames as string[]).join("\x1e"));
      // The server closes the session on the next poll: it answers with the
      // close packet "1" (possibly after packets still queued), or the
      // session is already unknown.
      const deadline = Date.now() + WAIT_MS;
      let gone = false;
      while (!gone && Date.now() < deadline) {
        const res = await raw.get();
        if (res.status === 400) {
          assert.deepEqual(JSON.parse(res.body), { code: 1, message: "Session ID unknown" });
          gone = true;
        } else {
          assert.equal(res.status, 200);
          const pkts = res.body.split("\x1e");
          if (pkts.includes("1")) gone = true;
          else if (pkts.includes("2")) await raw.send("3");
        }
      }
      assert.ok(gone, "session closed");
      await expectDisconnected(observer, id, v.reason);
      await assertHealthy(good);
    });
  }
});
