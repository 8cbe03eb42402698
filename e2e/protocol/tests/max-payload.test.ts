// maxHttpBufferSize (--max-payload 1000): the limit applies to one HTTP POST
// body on polling and to one WebSocket message on websocket.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { RawPolling, RawWs } from "../raw.ts";
import { WAIT_MS, ask, connectClient, connectObserver, useSuiteServer, within } from "../util.ts";

const LIMIT = 1000;
const server = useSuiteServer({ maxPayload: LIMIT });

/** A `42["message","zzz…"]` packet of exactly n bytes. */
function messageOfSize(n: number): string {
  const head = '42["message","';
  const tail = '"]';
  return head + "z".repeat(n - head.length - tail.length) + tail;
}

describe("maxHttpBufferSize", { timeout: 20_000 }, () => {
  it("the handshake advertises maxPayload", async () => {
    const raw = await RawPolling.open(server().url);
    assert.equal(raw.handshake.maxPayload, LIMIT);
  });

  it("polling: a POST of exactly the limit is accepted, one byte more gets HTTP 413", async () => {
    const raw = await RawPolling.open(server().url);
    await raw.connectMain();
    const ok = await raw.post(messageOfSize(LIMIT));
    assert.equal(ok.status, 200);
    assert.equal(ok.body, "ok");
    const tooBig = await raw.post(messageOfSize(LIMIT + 1));
    assert.equal(tooBig.status, 413);
    assert.equal(tooBig.body, "");
  });

  it("polling: the limit applies to the whole POST body, not per packet", async () => {
    const raw = await RawPolling.open(server().url);
    await raw.connectMain();
    const half = messageOfSize(600);
    const res = await raw.post(`${half}\x1e${half}`);
    assert.equal(res.status, 413);
  });

  it("polling: after a 413 the Engine.IO session itself is kept by the server (Node behaviour)", async () => {
    // Node's engine.io answers 413 and drops that request's body, but does
    // not close the session; a well-behaved client closes it (see the
    // socket.io-client test below).
    const raw = await RawPolling.open(server().url);
    await raw.connectMain();
    assert.equal((await raw.post(messageOfSize(LIMIT + 500))).status, 413);
    await raw.send('421["message-with-ack","still here"]');
    const got = await raw.pollUntil((p) => p.startsWith("431"));
    assert.ok(got.includes('431["still here"]'), JSON.stringify(got));
  });

  it('polling: socket.io-client sending an oversize message → client "transport error", server "transport close"', async () => {
    const observer = await connectObserver(server());
    const other = await connectClient(server(), { mode: "polling" });
    const c = await connectClient(server(), { mode: "polling" });
    const id = c.socket.id!;
    c.socket.emit("message", "y".repeat(2 * LIMIT));
    const [reason, detail] = (await c.log.nextArgs("disconnect")) as [string, { description?: unknown }];
    assert.equal(reason, "transport error");
    assert.equal(detail.description, 413, "the POST was answered with 413");
    assert.deepEqual(await observer.reasonFor(id), { id, nsp: "/", reason: "transport close" });
    assert.equal(c.log.count("message-back"), 0);
    // other clients are unaffected
    assert.equal(await ask(other.socket, "message-with-ack", "fine"), "fine");
  });

  it("websocket: a message of exactly the limit is accepted, one byte more closes the connection (1009)", async () => {
    const observer = await connectObserver(server());
    const raw = await RawWs.open(server().url);
    await raw.handshake();
    const id = await raw.connectMain();
    raw.send(messageOfSize(LIMIT));
    const echo = await raw.nextMatching((f) => f.startsWith('42["message-back"'));
    assert.equal(echo.length, messageOfSize(LIMIT).length + "-back".length);
    raw.send(messageOfSize(LIMIT + 1));
    const closed = await within(raw.closed, WAIT_MS, "server closing the websocket");
    assert.equal(closed.code, 1009, "close code 1009 (message too big)");
    assert.deepEqual(await observer.reasonFor(id), { id, nsp: "/", reason: "transport error" });
  });

  it('websocket: socket.io-client sending an oversize message → client "transport close", server "transport error"; others unaffected', async () => {
    const observer = await connectObserver(server());
    const other = await connectClient(server(), { mode: "websocket" });
    const c = await connectClient(server(), { mode: "websocket" });
    const id = c.socket.id!;
    c.socket.emit("message", "y".repeat(2 * LIMIT));
    const [reason] = await c.log.nextArgs("disconnect");
    assert.equal(reason, "transport close", "Node closes the websocket (1009); the client sees a close");
    assert.deepEqual(await observer.reasonFor(id), { id, nsp: "/", reason: "transport error" });
    assert.equal(c.log.count("message-back"), 0);
    assert.equal(await ask(other.socket, "message-with-ack", "fine"), "fine");
    other.socket.emit("message", "n".repeat(LIMIT / 2));
    assert.deepEqual(await other.log.nextArgs("message-back"), ["n".repeat(LIMIT / 2)]);
  });

  it("upgraded: an oversize message on the upgraded websocket closes it", async () => {
    const observer = await connectObserver(server());
    const c = await connectClient(server(), { mode: "upgrade" });
    const id = c.socket.id!;
    c.socket.emit("message", "y".repeat(2 * LIMIT));
    const [reason] = await c.log.nextArgs("disconnect");
    assert.equal(reason, "transport close");
    assert.deepEqual(await observer.reasonFor(id), { id, nsp: "/", reason: "transport error" });
  });

  it("binary attachments count per WebSocket message, not per packet", async () => {
    // a 900-byte attachment plus its small header: each frame is under the limit
    const c = await connectClient(server(), { mode: "websocket" });
    const att = Buffer.alloc(900, 7);
    c.socket.emit("message", att);
    const [got] = await c.log.nextArgs("message-back");
    assert.ok(Buffer.from(got as Uint8Array).equals(att));
  });
});
