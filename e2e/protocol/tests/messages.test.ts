// EVENT / BINARY_EVENT / ACK / BINARY_ACK round trips on each transport.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MODES, ask, assertTransport, bytes, connectClient, createClient, useSuiteServer } from "../util.ts";

const server = useSuiteServer();

/** Mixed JSON values, including strings that stress the encoders. */
const MIXED: unknown[] = [
  "plain",
  "unicode: zoë 😀 漢字",
  "separator \u001e and NUL \u0000 and newline \n and quote \" and backslash \\",
  "",
  0,
  -17,
  3.14159,
  Number.MAX_SAFE_INTEGER,
  true,
  false,
  null,
  [],
  {},
  [1, "two", [3, [4, { five: 5 }]], null],
  { a: 1, b: { c: [true, false, null], d: "e" }, "key with spaces": "v", "": "empty key" },
];

function isBinary(x: unknown): boolean {
  return x instanceof ArrayBuffer || ArrayBuffer.isView(x);
}

function toBuffer(x: unknown): Buffer {
  if (x instanceof ArrayBuffer) return Buffer.from(x);
  if (ArrayBuffer.isView(x)) return Buffer.from(x.buffer, x.byteOffset, x.byteLength);
  throw new assert.AssertionError({ message: `expected binary, got ${typeof x}`, actual: x });
}

/** Asserts `got` equals `want` where every binary leaf compares by bytes. */
function assertSameWithBinary(got: unknown, want: unknown, path = "$"): void {
  if (isBinary(want)) {
    assert.ok(isBinary(got), `${path}: expected binary, got ${JSON.stringify(got)}`);
    assert.ok(toBuffer(got).equals(toBuffer(want)), `${path}: binary content differs`);
    return;
  }
  if (Array.isArray(want)) {
    assert.ok(Array.isArray(got), `${path}: expected array`);
    assert.equal(got.length, want.length, `${path}: array length`);
    want.forEach((w, i) => assertSameWithBinary(got[i], w, `${path}[${i}]`));
    return;
  }
  if (want !== null && typeof want === "object") {
    assert.ok(got !== null && typeof got === "object" && !Array.isArray(got), `${path}: expected object`);
    const g = got as Record<string, unknown>;
    assert.deepEqual(Object.keys(g).sort(), Object.keys(want).sort(), `${path}: keys`);
    for (const [k, v] of Object.entries(want)) assertSameWithBinary(g[k], v, `${path}.${k}`);
    return;
  }
  assert.deepEqual(got, want, path);
}

for (const mode of MODES) {
  describe(`messages [${mode}]`, { timeout: 20_000 }, () => {
    it("echoes multiple arguments of mixed JSON types", async () => {
      const c = await connectClient(server(), { mode });
      c.socket.emit("message", ...MIXED);
      const args = await c.log.nextArgs("message-back");
      assert.deepEqual(args, MIXED);
    });

    it("echoes an event with no arguments", async () => {
      const c = await connectClient(server(), { mode });
      c.socket.emit("message");
      const args = await c.log.nextArgs("message-back");
      assert.deepEqual(args, []);
    });

    it("echoes top-level binary arguments (Buffer and Uint8Array)", async () => {
      const c = await connectClient(server(), { mode });
      const buf = bytes(64, 3);
      const u8 = new Uint8Array([0, 1, 2, 253, 254, 255]);
      const empty = Buffer.alloc(0);
      c.socket.emit("message", buf, "between", u8, empty);
      const args = await c.log.nextArgs("message-back");
      assertSameWithBinary(args, [buf, "between", u8, empty]);
    });

    it("echoes binary nested in objects and arrays", async () => {
      const c = await connectClient(server(), { mode });
      const payload = {
        name: "file",
        data: bytes(300, 7),
        parts: [bytes(5, 1), { inner: new Uint8Array([9, 8, 7]) }, "text", 12],
        meta: { deep: { deeper: [bytes(1, 200)] } },
      };
      c.socket.emit("message", payload, [bytes(2, 5), [bytes(3, 6)]]);
      const args = await c.log.nextArgs("message-back");
      assertSameWithBinary(args, [payload, [bytes(2, 5), [bytes(3, 6)]]]);
    });

    it("round-trips a 200 KiB binary attachment", async () => {
      const c = await connectClient(server(), { mode });
      const big = bytes(200 * 1024, 11);
      c.socket.emit("message", { big });
      const [got] = await c.log.nextArgs("message-back");
      assertSameWithBinary(got, { big });
    });

    it("keeps the order of many events", async () => {
      const c = await connectClient(server(), { mode });
      const n = 60;
      for (let i = 0; i < n; i++) {
        if (i % 3 === 0) c.socket.emit("message", i, bytes(4, i));
        else c.socket.emit("message", i);
      }
      for (let i = 0; i < n; i++) {
        const args = await c.log.nextArgs("message-back");
        assert.equal(args[0], i, "events arrive in emission order");
        if (i % 3 === 0) assertSameWithBinary(args[1], bytes(4, i));
      }
    });

    it("acknowledges with the same mixed arguments", async () => {
      const c = await connectClient(server(), { mode });
      const res = await new Promise<unknown[]>((resolve, reject) => {
        c.socket.timeout(3000).emit("message-with-ack", ...MIXED, (err: Error | null, ...ackArgs: unknown[]) =>
          err ? reject(err) : resolve(ackArgs),
        );
      });
      assert.deepEqual(res, MIXED);
    });

    it("acknowledges with binary (BINARY_ACK), top level and nested", async () => {
      const c = await connectClient(server(), { mode });
      const buf = bytes(128, 42);
      const nested = { list: [new Uint8Array([1, 2, 3]), { b: bytes(10, 9) }] };
      const res = await new Promise<unknown[]>((resolve, reject) => {
        c.socket.timeout(3000).emit("message-with-ack", buf, nested, "s", (err: Error | null, ...ackArgs: unknown[]) =>
          err ? reject(err) : resolve(ackArgs),
        );
      });
      assertSameWithBinary(res, [buf, nested, "s"]);
    });

    it("emitWithAck resolves with the first acknowledgement argument", async () => {
      const c = await connectClient(server(), { mode });
      const first = await ask(c.socket, "message-with-ack", { x: [1, 2] }, "ignored-by-emitWithAck");
      assert.deepEqual(first, { x: [1, 2] });
    });

    it("several acks in flight resolve to their own requests", async () => {
      const c = await connectClient(server(), { mode });
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) => ask<number>(c.socket, "message-with-ack", i)),
      );
      assert.deepEqual(results, Array.from({ length: 10 }, (_, i) => i));
    });
  });
}

describe("messages: across the upgrade", { timeout: 20_000 }, () => {
  it("events emitted right after connect, while polling→websocket upgrades, are neither lost nor reordered", async () => {
    const c = createClient(server(), { mode: "upgrade" });
    await c.log.nextArgs("connect");
    // Still on polling here: the probe has not completed yet.
    const n = 40;
    for (let i = 0; i < n; i++) c.socket.emit("message", i, i % 4 === 0 ? bytes(3, i) : "t");
    await assertTransport(c); // the upgrade did happen
    for (let i = 0; i < n; i++) {
      const args = await c.log.nextArgs("message-back");
      assert.equal(args[0], i, "events arrive in emission order across the upgrade");
      if (i % 4 === 0) assertSameWithBinary(args[1], bytes(3, i));
    }
    // and the connection keeps working on websocket
    assert.equal(await ask(c.socket, "message-with-ack", "after"), "after");
    assert.equal(c.socket.io.engine.transport.name, "websocket");
  });
});
