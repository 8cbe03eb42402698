// Durability and restarts. An acked message is committed: it survives
// SIGKILL (no shutdown, no flush). A graceful restart (SIGTERM) closes the
// sockets as a transport loss, so socket.io-client reconnects by itself to
// the next server on the same port; connection state recovery is in memory,
// so the new session is fresh and the client joins its rooms again.

import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { removeDir, startParley, tempDataDir, type Parley } from "../../support/parley.ts";
import { MODES, connectClient, newUser, ok, send, uniqueRoom, useClientCleanup } from "../client.ts";
import type { ChatMessage } from "../../../client-js/src/generated/events.ts";

useClientCleanup();

let root: string;
const started: Parley[] = [];
before(async () => {
  root = await tempDataDir();
});
after(async () => {
  for (const s of started) await s.kill();
  await removeDir(root);
});

let dirs = 0;
/**
 * Starts parley with --shutdown-timeout 1s: a healthy graceful shutdown takes
 * milliseconds (a polling session with no GET held gets half a second to
 * come back for its close packet).
 */
async function start(opts: { dataDir?: string; port?: number } = {}): Promise<Parley> {
  const s = await startParley({
    dataDir: opts.dataDir ?? join(root, `d${++dirs}`),
    args: ["--shutdown-timeout", "1s"],
    ...(opts.port === undefined ? {} : { port: opts.port }),
  });
  started.push(s);
  return s;
}

function sortById(msgs: ChatMessage[]): ChatMessage[] {
  return [...msgs].sort((a, b) => (a.id < b.id ? -1 : 1));
}

for (const mode of MODES) {
  describe(`durability [${mode}]`, () => {
    it("every acked message survives kill -9, and so does its idempotency key", async () => {
      const first = await start();
      const room = uniqueRoom("kill9");
      const user = newUser("Durable");
      const c = await connectClient(first, { mode, user });
      await ok(c.socket, "joinRoom", { room });
      // A burst, so that several messages share a commit; then one with a key.
      const acked = await Promise.all(Array.from({ length: 20 }, (_, i) => send(c, room, `burst ${i}`)));
      const keyed = await send(c, room, "keyed", "key-1");
      await first.kill();
      assert.equal(first.exit()?.signal, "SIGKILL");

      const second = await start({ dataDir: first.dataDir });
      const d = await connectClient(second, { mode, user });
      const joined = await ok(d.socket, "joinRoom", { room });
      assert.deepEqual(joined.history, sortById([...acked, keyed]));
      // The key is still known: a resend returns the original.
      assert.deepEqual(await send(d, room, "keyed", "key-1"), keyed);
      await second.kill();
    });

    it("graceful restart: the client reconnects by itself to the new server on the same port and joins again", async () => {
      const first = await start();
      const room = uniqueRoom("restart");
      const c = await connectClient(first, { mode, user: newUser("Stayer"), reconnection: true });
      await ok(c.socket, "joinRoom", { room });
      const before = await send(c, room, "before the restart");

      await first.stop(); // SIGTERM
      const [reason] = await c.log.nextArgs("disconnect");
      // A transport loss, which the Manager retries; "io server disconnect" would be final.
      assert.notEqual(reason, "io server disconnect");
      assert.equal(c.socket.active, true, `the client keeps trying after "${String(reason)}"`);
      assert.deepEqual(first.exit(), { code: 0, signal: null }, first.output());

      const second = await start({ dataDir: first.dataDir, port: first.port });
      await c.log.nextArgs("connect", 10_000);
      assert.ok(!c.socket.recovered, "recovery state does not outlive the process");

      const other = await connectClient(second, { mode, user: newUser("Newcomer") });
      await ok(other.socket, "joinRoom", { room });
      const rejoined = await ok(c.socket, "joinRoom", { room });
      assert.deepEqual(rejoined.history, [before]);
      assert.deepEqual(rejoined.members.map((m) => m.id).sort(), [c.user.id, other.user.id].sort());
      const afterMsg = await send(c, room, "after the restart");
      assert.deepEqual(await other.log.next("newChatMessage"), afterMsg);
      await second.kill();
    });
  });
}

describe("graceful shutdown with a polling session between two polls", () => {
  // socket.io-client re-polls right after every response, so at any moment a
  // polling client may have no GET open on the server. Reproduced here with a
  // raw Engine.IO session (no GET pending at SIGTERM), which is what a
  // socket.io-client polling client hits intermittently when SIGTERM follows
  // traffic (then it reports "transport error" instead of "transport close").
  it(
    "SIGTERM does not wait for a GET that cannot come: the server exits promptly with 0",
    async () => {
      const first = await start();
      const base = `${first.url}/socket.io/?EIO=4&transport=polling`;
      const open = await (await fetch(base)).text();
      const sid = (JSON.parse(open.slice(1)) as { sid: string }).sid;
      const post = await fetch(`${base}&sid=${sid}`, { method: "POST", body: '40/chat,{"userId":"raw","name":"Raw"}' });
      assert.equal(await post.text(), "ok");
      const connected = await (await fetch(`${base}&sid=${sid}`)).text();
      assert.match(connected, /^40\/chat,/);
      // No GET is pending now.
      const t0 = Date.now();
      await first.stop();
      const took = Date.now() - t0;
      assert.deepEqual(first.exit(), { code: 0, signal: null }, first.output());
      assert.ok(took < 2000, `shutdown took ${took} ms`);
    },
  );
});
