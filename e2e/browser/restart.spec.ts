// Story 4: the server restarts while Alice has the page open. Her client
// reconnects by itself; a message Bob sent through the HTTP API while she
// was cut off appears once, in order; the message Alice typed during the
// outage is delivered once after the reconnect.
import { API_KEY } from "../support/parley.ts";
import { expect, SERVER_ARGS, test } from "./fixtures.ts";
import { startParley } from "../support/parley.ts";

const BOB = { id: "bob", name: "Bob" };

test("Alice's page survives a server restart without losing or doubling a message", async ({ user, room }) => {
  // A server of its own: this test restarts it.
  const srv = await startParley({ args: SERVER_ARGS });
  try {
    const alice = await user("Alice", { server: srv });
    await alice.join(room);
    await alice.send("before the restart");
    await srv.publish(room, "Bob: before the restart", BOB);
    await expect(alice.message("Bob: before the restart")).toBeVisible();

    await srv.stop(); // SIGTERM: graceful shutdown, sockets closed
    await expect(alice.connection).toHaveText(/reconnecting/);

    await alice.send("typed during the outage");
    const queued = alice.page.locator('#messages [data-state="queued"]');
    await expect(queued).toContainText("waiting for the connection");

    await srv.restart();
    // Alice's client is still backing off between attempts: this lands while she is away.
    await srv.publish(room, "Bob: during the outage", BOB);

    await expect(alice.connection).toHaveText("connected", { timeout: 20_000 });
    await expect(alice.page.locator("#messages [data-state]")).toHaveCount(0);

    const res = await fetch(`${srv.url}/api/rooms/${room}/messages`, {
      headers: { Authorization: `Bearer ${API_KEY}` },
    });
    const stored = ((await res.json()) as { messages: { content: string }[] }).messages.map((m) => m.content);
    expect([...stored].sort()).toEqual(
      ["before the restart", "Bob: before the restart", "Bob: during the outage", "typed during the outage"].sort(),
    );
    // Once each, in the server's order.
    await expect.poll(() => alice.texts()).toEqual(stored);

    // And the page is live again.
    await srv.publish(room, "Bob: after", BOB);
    await expect.poll(() => alice.texts()).toEqual([...stored, "Bob: after"]);
  } finally {
    await srv.dispose();
  }
});
