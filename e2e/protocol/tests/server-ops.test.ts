// Server-side bulk operations: fetchSockets, socketsJoin, socketsLeave,
// disconnectSockets.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  MODES,
  ask,
  connectClient,
  connectObserver,
  useSuiteServer,
  type Client,
  type Mode,
} from "../util.ts";

const server = useSuiteServer();

let seq = 0;
const room = (label: string): string => `${label}-${++seq}`;

async function three(mode: Mode): Promise<[Client, Client, Client]> {
  const cs = await Promise.all([0, 1, 2].map(() => connectClient(server(), { mode })));
  return [cs[0]!, cs[1]!, cs[2]!];
}

const ids = (...cs: Client[]): string[] => cs.map((c) => c.socket.id!).sort();

/** Broadcasts `event` to `r`, then a follow-up to all; returns who got `event` before the follow-up. */
async function receiversOf(from: Client, all: Client[], r: string): Promise<string[]> {
  const event = `to-${r}`;
  const follow = `follow-${r}`;
  assert.equal(await ask(from.socket, "emit-to", { to: [r], event, args: [r] }), "ok");
  assert.equal(await ask(from.socket, "emit-to", { event: follow, args: [] }), "ok");
  const got: string[] = [];
  for (const c of all) {
    await c.log.nextArgs(follow);
    if (c.log.count(event) > 0) {
      assert.deepEqual(c.log.allArgs(event), [[r]]);
      got.push(c.socket.id!);
    }
  }
  return got.sort();
}

for (const mode of MODES) {
  describe(`server-side operations [${mode}]`, { timeout: 20_000 }, () => {
    it("fetch-sockets lists every socket of the namespace, or of a room", async () => {
      const [a, b, c] = await three(mode);
      assert.deepEqual(await ask(a.socket, "fetch-sockets", null), ids(a, b, c));
      const r = room("fs");
      await ask(b.socket, "join", r);
      await ask(c.socket, "join", r);
      assert.deepEqual(await ask(a.socket, "fetch-sockets", r), ids(b, c));
      assert.deepEqual(await ask(a.socket, "fetch-sockets", "empty-room"), []);
      // a socket id is a room too
      assert.deepEqual(await ask(a.socket, "fetch-sockets", b.socket.id), ids(b));
    });

    it("sockets-join with a target makes the target's sockets join; emit-to reaches them", async () => {
      const [a, b, c] = await three(mode);
      const [t, r] = [room("target"), room("joined")];
      await ask(a.socket, "join", t);
      await ask(b.socket, "join", t);
      assert.equal(await ask(c.socket, "sockets-join", { room: r, target: t }), "ok");
      assert.deepEqual(await ask(c.socket, "fetch-sockets", r), ids(a, b));
      // visible from the socket's own point of view too
      assert.deepEqual(await ask(a.socket, "join", []), [a.socket.id!, r, t].sort());
      assert.deepEqual(await receiversOf(c, [a, b, c], r), ids(a, b));
    });

    it("sockets-join without a target makes every socket join", async () => {
      const [a, b, c] = await three(mode);
      const r = room("everyone");
      assert.equal(await ask(a.socket, "sockets-join", { room: r }), "ok");
      assert.deepEqual(await ask(a.socket, "fetch-sockets", r), ids(a, b, c));
      assert.deepEqual(await receiversOf(b, [a, b, c], r), ids(a, b, c));
    });

    it("sockets-join with a socket id as target affects that socket only", async () => {
      const [a, b, c] = await three(mode);
      const r = room("one");
      assert.equal(await ask(a.socket, "sockets-join", { room: r, target: c.socket.id }), "ok");
      assert.deepEqual(await receiversOf(a, [a, b, c], r), ids(c));
    });

    it("sockets-leave with a target removes only the target's sockets", async () => {
      const [a, b, c] = await three(mode);
      const [t, r] = [room("lt"), room("lr")];
      await Promise.all([a, b, c].map((x) => ask(x.socket, "join", r)));
      await ask(a.socket, "join", t);
      assert.equal(await ask(b.socket, "sockets-leave", { room: r, target: t }), "ok");
      assert.deepEqual(await ask(b.socket, "fetch-sockets", r), ids(b, c));
      assert.deepEqual(await receiversOf(b, [a, b, c], r), ids(b, c));
    });

    it("sockets-leave without a target empties the room", async () => {
      const [a, b, c] = await three(mode);
      const r = room("empty");
      await Promise.all([a, b, c].map((x) => ask(x.socket, "join", r)));
      assert.equal(await ask(c.socket, "sockets-leave", { room: r }), "ok");
      assert.deepEqual(await ask(c.socket, "fetch-sockets", r), []);
      assert.deepEqual(await receiversOf(c, [a, b, c], r), []);
    });

    for (const close of [false, true]) {
      it(`disconnect-sockets in a room (close=${close}) disconnects only its members`, async () => {
        const observer = await connectObserver(server());
        const [a, b, c] = await three(mode);
        const r = room("kick");
        await ask(a.socket, "join", r);
        await ask(b.socket, "join", r);
        const [aId, bId] = [a.socket.id!, b.socket.id!];
        c.socket.emit("disconnect-sockets", { room: r, close });
        for (const x of [a, b]) {
          assert.deepEqual(await x.log.nextArgs("disconnect"), ["io server disconnect", undefined]);
          assert.equal(x.socket.active, false);
        }
        for (const id of [aId, bId]) {
          assert.deepEqual(await observer.reasonFor(id), { id, nsp: "/", reason: "server namespace disconnect" });
        }
        // c is untouched
        assert.equal(await ask(c.socket, "message-with-ack", "still"), "still");
        assert.deepEqual(await ask(c.socket, "fetch-sockets", null), ids(c));
        assert.equal(c.log.count("disconnect"), 0);
      });
    }

    it("disconnect-sockets without a room disconnects everybody, the requester included", async () => {
      const observer = await connectObserver(server());
      const all = await three(mode);
      const allIds = ids(...all);
      all[1].socket.emit("disconnect-sockets", { close: false });
      for (const x of all) {
        assert.deepEqual(await x.log.nextArgs("disconnect"), ["io server disconnect", undefined]);
      }
      for (const id of allIds) {
        assert.equal((await observer.reasonFor(id)).reason, "server namespace disconnect");
      }
      // the observer namespace is not affected
      assert.equal(observer.client.socket.connected, true);
    });
  });
}
