// The token path against the real server in dev mode, whose GET
// /api/dev/token signs tokens: identity from the token, private rooms by
// claim, and the refresh that keeps a socket past its token's exp.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { createParleyClient, ParleyError, type ParleyClient } from "../src/index.js";
import { startParley, type Parley } from "../../e2e/support/parley.ts";
import { eventually, until } from "./support/wait.ts";

let server: Parley;
const clients: ParleyClient[] = [];

before(async () => {
  server = await startParley();
});
after(async () => {
  for (const c of clients) c.close();
  await server.dispose();
});

async function devToken(query: string): Promise<string> {
  const res = await fetch(`${server.url}/api/dev/token?${query}`);
  assert.equal(res.status, 200, `GET /api/dev/token?${query}`);
  return ((await res.json()) as { token: string }).token;
}

function client(token: string | (() => Promise<string>)): ParleyClient {
  const c = createParleyClient({ url: server.url, token, ackTimeoutMs: 2000 });
  clients.push(c);
  return c;
}

test("a token names the user; a private room needs its claim", async () => {
  const room = `private:${process.pid}`;
  const alice = client(await devToken(`name=Alice&rooms=${encodeURIComponent(room)}`));
  const mallory = client(await devToken("name=Mallory"));
  assert.deepEqual(alice.store.getState().self, { id: "alice", name: "Alice" });

  await alice.join(room);
  await assert.rejects(mallory.join(room), (e: unknown) => e instanceof ParleyError && e.code === "forbidden");
  assert.equal(room in mallory.store.getState().rooms, false);
  const msg = await alice.send(room, "for claimed eyes only");
  assert.equal(msg.sender.id, "alice");
});

test("a bad token is refused with unauthorized and no retry", async () => {
  const c = client("not-a-jwt");
  let presenceRefused = false;
  c.presence.on("connect_error", () => (presenceRefused = true));
  const s = await until(c.store, (st) => st.connection.status === "disconnected", "refusal");
  assert.equal(s.connection.error?.code, "unauthorized");
  await eventually(async () => presenceRefused, "/presence refused too");
  // No retry: socket.io-client retries only an active socket, through its
  // Manager's engine. Both sockets are inactive, and the Manager, left with
  // no active socket, has closed the engine for good.
  assert.equal(c.chat.active, false);
  assert.equal(c.presence.active, false);
  await eventually(async () => c.manager.engine.readyState === "closed", "the engine closed");
});

test("a token function refreshes the token before exp, and the socket outlives the first token", async () => {
  let calls = 0;
  const c = client(async () => {
    calls++;
    return devToken("name=Refresher&ttl=3s");
  });
  let disconnects = 0;
  c.chat.on("disconnect", () => disconnects++);
  const room = `refresh:${process.pid}`;
  await c.join(room);
  const firstExp = Date.now() + 3000;
  const callsAtConnect = calls;
  // The refresh is due 2.4 s after the token was issued; the first exp passes at 3 s.
  await eventually(async () => calls > callsAtConnect, "the refresh asks for a new token", 6000);
  // Proving that nothing happens needs time to pass: wait beyond the first exp.
  await new Promise((r) => setTimeout(r, Math.max(0, firstExp + 700 - Date.now())));
  assert.equal(disconnects, 0, "the server disconnected the socket at the first token's exp");
  assert.equal(c.store.getState().connection.status, "connected");
  await c.send(room, "still here after exp");
});

test("without a token function the socket ends at exp (so the refresh above is what keeps it)", async () => {
  const c = client(await devToken("name=Expiring&ttl=2s"));
  await until(c.store, (s) => s.connection.status === "connected", "connected");
  const s = await until(
    c.store,
    (st) => st.connection.status !== "connected",
    "the server ends the socket at exp",
    6000,
  );
  assert.notEqual(s.connection.status, "connected");
});
