// Last-seen times are durable: they are written to the same store as chat
// history and survive a restart of the binary on the same data directory,
// both for a user that went offline before the restart and for one still
// connected when the server shut down (its last-seen time is the shutdown).

import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { connectClient, useClientCleanup } from "../../chat/client.ts";
import { removeDir, startParley, tempDataDir, type Parley } from "../../support/parley.ts";
import { closeSocket, connectPresence, newUser, ok, useCleanup } from "../client.ts";

useCleanup();
useClientCleanup();

const started: Parley[] = [];
const dirs: string[] = [];
after(async () => {
  for (const s of started) await s.kill();
  for (const d of dirs) await removeDir(d);
});

async function start(dataDir: string, port?: number): Promise<Parley> {
  const s = await startParley({ dataDir, ...(port === undefined ? {} : { port }), args: ["--presence-grace", "200ms"] });
  started.push(s);
  return s;
}

describe("last seen across a restart", () => {
  for (const mode of ["polling", "websocket"] as const) {
    it(`keeps lastSeen of users offline before the restart and of users connected at shutdown [${mode}]`, async () => {
      const dir = await tempDataDir();
      dirs.push(dir);
      const first = await start(dir);
      const bob = newUser("Bob");
      const carol = newUser("Carol");
      const watcher = await connectPresence(first, { mode, user: newUser("Watcher") });
      await ok(watcher, "subscribe", { userIds: [bob.userId] });
      const bobChat = await connectClient(first, { mode, user: bob });
      await watcher.log.nextStatus(bob.userId); // online
      closeSocket(bobChat.socket);
      const offline = await watcher.log.nextStatus(bob.userId);
      assert.equal(offline.isOnline, false);
      await connectPresence(first, { mode, user: carol });

      const stopping = Date.now();
      await first.stop(); // SIGTERM: graceful
      const stopped = Date.now();
      assert.deepEqual(first.exit(), { code: 0, signal: null }, first.output());

      const second = await start(dir);
      const w2 = await connectPresence(second, { mode, user: newUser("Watcher") });
      const snap = await ok(w2, "subscribe", { userIds: [bob.userId, carol.userId] });
      const byId = new Map(snap.users.map((u) => [u.userId, u]));
      assert.equal(byId.get(bob.userId)?.isOnline, false);
      assert.equal(byId.get(bob.userId)?.lastSeen, offline.lastSeen, "bob's last seen survived");
      const c = byId.get(carol.userId)!;
      assert.equal(c.isOnline, false);
      assert.ok(c.lastSeen >= stopping - 1000 && c.lastSeen <= stopped, `carol's last seen ${c.lastSeen} is the shutdown (${stopping}..${stopped})`);
    });
  }
});
