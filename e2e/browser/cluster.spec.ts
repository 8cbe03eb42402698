// Story: a cluster behind a load balancer. Alice and Bob open the demo
// page through HAProxy (deploy/haproxy.cfg) and land on different nodes of
// a three-node cluster on Redis and PostgreSQL (e2e/ha/cluster.ts; which
// node each is on is read from the nodes' own connection logs). Alice's
// node is killed with SIGKILL mid-conversation; her page reconnects through
// HAProxy to another node by itself; nothing acknowledged is lost or
// doubled on either screen, and both screens show exactly what PostgreSQL
// stored, in its order.
import { asParley, startCluster, type Cluster } from "../ha/cluster.ts";
import { API_KEY } from "../support/parley.ts";
import { expect, SERVER_ARGS, test, type ChatPage } from "./fixtures.ts";

test("Alice's node dies mid-conversation: her page reconnects through HAProxy to another node, nothing is lost or doubled", async ({
  user,
  room,
}) => {
  test.setTimeout(90_000);
  const cluster: Cluster = await startCluster({ args: SERVER_ARGS });
  try {
    const lb = asParley(cluster);
    /** Opens the page for name until it is on a node not in avoid (the balancer turns round). */
    const openOn = async (name: string, userId: string, avoid: number[]): Promise<{ page: ChatPage; node: number }> => {
      for (let attempt = 0; attempt < 8; attempt++) {
        const before = cluster.counts(userId);
        const page = await user(name, { server: lb });
        const node = await cluster.waitConnected(userId, before);
        if (!avoid.includes(node)) return { page, node };
        await page.context.close();
      }
      throw new Error(`${name} never landed on a node other than ${avoid.map((n) => `node${n + 1}`).join(", ")}`);
    };
    const { page: alice, node: aliceNode } = await openOn("Alice", "alice", []);
    const { page: bob, node: bobNode } = await openOn("Bob", "bob", [aliceNode]);
    expect(bobNode).not.toBe(aliceNode);

    await alice.join(room);
    await bob.join(room);
    await alice.send("Alice: hi Bob");
    await expect(bob.message("Alice: hi Bob")).toBeVisible();
    await bob.send("Bob: hi Alice");
    await expect(alice.message("Bob: hi Alice")).toBeVisible();
    await alice.send("Alice: one more, acked");
    await expect(alice.page.locator("#messages [data-state]")).toHaveCount(0); // every message of hers is acked
    await expect(bob.message("Alice: one more, acked")).toBeVisible();

    // Alice's node dies: no shutdown, no goodbye.
    const before = cluster.counts("alice");
    await cluster.nodes[aliceNode]!.kill();
    await bob.send("Bob: while Alice's node was dying");
    await alice.send("Alice: typed as her node died");

    // Her page reconnects by itself, through HAProxy, to a live node.
    const newNode = await cluster.waitConnected("alice", before);
    expect(newNode).not.toBe(aliceNode);
    await expect(alice.connection).toHaveText("connected", { timeout: 20_000 });
    await expect(alice.page.locator("#messages [data-state]")).toHaveCount(0, { timeout: 20_000 });
    await expect(bob.connection).toHaveText("connected");

    // The conversation goes on.
    await bob.send("Bob: welcome back");
    await expect(alice.message("Bob: welcome back")).toBeVisible();
    await alice.send("Alice: thanks");
    await expect(bob.message("Alice: thanks")).toBeVisible();

    // What PostgreSQL stored, through any node: every message once.
    const res = await fetch(`${cluster.url}/api/rooms/${encodeURIComponent(room)}/messages?limit=200`, {
      headers: { Authorization: `Bearer ${API_KEY}` },
    });
    expect(res.status).toBe(200);
    const stored = ((await res.json()) as { messages: { content: string }[] }).messages.map((m) => m.content);
    expect([...stored].sort()).toEqual(
      [
        "Alice: hi Bob",
        "Bob: hi Alice",
        "Alice: one more, acked",
        "Bob: while Alice's node was dying",
        "Alice: typed as her node died",
        "Bob: welcome back",
        "Alice: thanks",
      ].sort(),
    );
    // Both screens: exactly that, once each, in the stored order.
    await expect.poll(() => alice.texts()).toEqual(stored);
    await expect.poll(() => bob.texts()).toEqual(stored);
    expect(cluster.nodes.filter((n) => n.running())).toHaveLength(2);
  } finally {
    await cluster.stop();
  }
});
