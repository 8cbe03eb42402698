// Rooms and broadcasting: join/leave, to/except/excludeSelf across three
// clients. "Did not receive" is proven by ordering, not by waiting: after the
// event under test, a follow-up event is broadcast to everybody; a client that
// got the follow-up but not the first event never will, because the server
// writes both on the same ordered connection.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MODES, ask, bytes, connectClient, connectObserver, type Client, type Mode, useSuiteServer } from "../util.ts";

const server = useSuiteServer();

let seq = 0;
function room(label: string): string {
  return `${label}-${process.pid}-${++seq}`;
}

interface EmitTo {
  to?: string[];
  except?: string[];
  excludeSelf?: boolean;
  volatile?: boolean;
  event: string;
  args: unknown[];
}

async function emitTo(from: Client, opts: EmitTo): Promise<void> {
  assert.equal(await ask(from.socket, "emit-to", opts), "ok");
}

async function three(mode: Mode): Promise<[Client, Client, Client]> {
  return Promise.all([
    connectClient(server(), { mode }),
    connectClient(server(), { mode }),
    connectClient(server(), { mode }),
  ]);
}

/**
 * Broadcasts a follow-up to everybody and checks, per client, whether
 * `event` was received before it (expected[i] true) or not at all (false).
 */
async function assertReceivers(clients: Client[], event: string, expected: boolean[], args?: unknown[]): Promise<void> {
  const follow = `follow-${++seq}`;
  await emitTo(clients[0]!, { event: follow, args: [] });
  for (const [i, c] of clients.entries()) {
    if (expected[i]) {
      const got = await c.log.nextArgs(event);
      if (args) assert.deepEqual(got, args, `client ${i} args`);
    }
    await c.log.nextArgs(follow);
    const names = c.log.names();
    const firstIdx = names.indexOf(event);
    const followIdx = names.indexOf(follow);
    if (expected[i]) {
      assert.ok(firstIdx >= 0 && firstIdx < followIdx, `client ${i} got "${event}" before the follow-up`);
      assert.equal(c.log.count(event), 1, `client ${i} got "${event}" exactly once`);
    } else {
      assert.equal(firstIdx, -1, `client ${i} must not receive "${event}"`);
    }
  }
}

for (const mode of MODES) {
  describe(`rooms [${mode}]`, { timeout: 20_000 }, () => {
    it("join and leave report the sorted room list, which always contains the own id", async () => {
      const c = await connectClient(server(), { mode });
      const id = c.socket.id!;
      const [r1, r2, r3] = [room("b"), room("a"), room("c")];
      assert.deepEqual(await ask(c.socket, "join", r1), [id, r1].sort());
      assert.deepEqual(await ask(c.socket, "join", [r2, r3]), [id, r1, r2, r3].sort());
      assert.deepEqual(await ask(c.socket, "join", r1), [id, r1, r2, r3].sort(), "joining twice is idempotent");
      assert.deepEqual(await ask(c.socket, "leave", r1), [id, r2, r3].sort());
      assert.deepEqual(await ask(c.socket, "leave", "never-joined"), [id, r2, r3].sort());
      assert.deepEqual(await ask(c.socket, "leave", r2), [id, r3].sort());
      assert.deepEqual(await ask(c.socket, "leave", r3), [id]);
    });

    it("emit to a room reaches its members only (sender included when not excludeSelf)", async () => {
      const [a, b, c] = await three(mode);
      const r = room("to");
      await ask(a.socket, "join", r);
      await ask(b.socket, "join", r);
      const args = [1, "two", { three: [3] }, bytes(8, 1)];
      await emitTo(a, { to: [r], event: "to-room", args });
      await assertReceivers([a, b, c], "to-room", [true, true, false]);
      const [, , , bin] = a.log.allArgs("to-room")[0]!;
      assert.ok(Buffer.from(bin as Uint8Array).equals(bytes(8, 1)), "binary survives broadcast");
    });

    it("emit to several rooms reaches the union once per socket", async () => {
      const [a, b, c] = await three(mode);
      const [r1, r2] = [room("u1"), room("u2")];
      await ask(a.socket, "join", [r1, r2]);
      await ask(b.socket, "join", r2);
      await emitTo(c, { to: [r1, r2], event: "union", args: ["x"] });
      await assertReceivers([a, b, c], "union", [true, true, false], ["x"]);
    });

    it("emit to a socket id reaches only that socket", async () => {
      const [a, b, c] = await three(mode);
      await emitTo(a, { to: [b.socket.id!], event: "private", args: [{ hi: "b" }] });
      await assertReceivers([a, b, c], "private", [false, true, false], [{ hi: "b" }]);
    });

    it("except excludes room members from a namespace-wide emit", async () => {
      const [a, b, c] = await three(mode);
      const r = room("ex");
      await ask(a.socket, "join", r);
      await ask(b.socket, "join", r);
      await emitTo(a, { except: [r], event: "except-room", args: [7] });
      await assertReceivers([a, b, c], "except-room", [false, false, true], [7]);
    });

    it("to and except combine (to room minus except socket id)", async () => {
      const [a, b, c] = await three(mode);
      const r = room("toex");
      await Promise.all([a, b, c].map((x) => ask(x.socket, "join", r)));
      await emitTo(a, { to: [r], except: [c.socket.id!], event: "to-except", args: [] });
      await assertReceivers([a, b, c], "to-except", [true, true, false], []);
    });

    it("excludeSelf (socket.broadcast) reaches everybody but the sender", async () => {
      const [a, b, c] = await three(mode);
      await emitTo(a, { excludeSelf: true, event: "bcast", args: [true] });
      await assertReceivers([a, b, c], "bcast", [false, true, true], [true]);
    });

    it("excludeSelf with to: room members but the sender", async () => {
      const [a, b, c] = await three(mode);
      const r = room("bself");
      await ask(a.socket, "join", r);
      await ask(b.socket, "join", r);
      await emitTo(a, { excludeSelf: true, to: [r], event: "bcast-room", args: ["r"] });
      await assertReceivers([a, b, c], "bcast-room", [false, true, false], ["r"]);
    });

    it("excludeSelf with except: everybody but the sender and the excluded room", async () => {
      const [a, b, c] = await three(mode);
      const r = room("bex");
      await ask(b.socket, "join", r);
      await emitTo(a, { excludeSelf: true, except: [r], event: "bcast-except", args: [] });
      await assertReceivers([a, b, c], "bcast-except", [false, false, true], []);
    });

    it("after leave, room emits no longer reach the socket", async () => {
      const [a, b, c] = await three(mode);
      const r = room("left");
      await Promise.all([a, b, c].map((x) => ask(x.socket, "join", r)));
      await ask(b.socket, "leave", r);
      await emitTo(c, { to: [r], event: "after-leave", args: [1] });
      await assertReceivers([a, b, c], "after-leave", [true, false, true], [1]);
    });

    it("a disconnected socket leaves its rooms", async () => {
      const [a, b, c] = await three(mode);
      const r = room("gone");
      await Promise.all([a, b].map((x) => ask(x.socket, "join", r)));
      const observer = await connectObserver(server());
      const bId = b.socket.id!;
      b.socket.disconnect();
      // wait until the server has processed b's DISCONNECT
      assert.equal((await observer.reasonFor(bId)).reason, "client namespace disconnect");
      assert.deepEqual(await ask(a.socket, "fetch-sockets", r), [a.socket.id!]);
      assert.ok(!(await ask<string[]>(a.socket, "fetch-sockets", null)).includes(bId));
      await emitTo(c, { to: [r], event: "after-gone", args: [] });
      await assertReceivers([a, c], "after-gone", [true, false]);
    });
  });
}
