// /chat on three nodes behind HAProxy (deploy/haproxy.cfg), sharing Redis
// and PostgreSQL, with one client on each node (proved by the nodes' own
// connection logs and HAProxy's X-Parley-Node header): a message posted on
// any node is acked and reaches the room's members on every node; history
// is one, shared through PostgreSQL; a resend with the same clientMsgId
// through another node returns the original and is not broadcast again;
// the HTTP API through the balancer reaches every node.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MODES, newUser, negativeWindow, ok, send, uniqueRoom, useClientCleanup, type ChatClient, type Mode } from "../../chat/client.ts";
import { assertNodesRunning, connectOn, useCluster } from "../client.ts";
import { LB_MODE } from "../cluster.ts";

const env = useCluster();
useClientCleanup();

/** Ann on node1, Bob on node2, Cat on node3 (indexes 0, 1, 2), all in a fresh room. */
async function threeNodes(mode: Mode): Promise<{ room: string; clients: ChatClient[] }> {
  const { cluster } = env();
  const room = uniqueRoom("ha");
  const clients: ChatClient[] = [];
  for (const [i, name] of ["Ann", "Bob", "Cat"].entries()) {
    clients.push(await connectOn(cluster, i, { mode, user: newUser(name) }));
  }
  for (const c of clients) await ok(c.socket, "joinRoom", { room });
  return { room, clients };
}

describe("the balancer", () => {
  it(`spreads handshakes over the three nodes and names the node in X-Parley-Node (${LB_MODE})`, async () => {
    const { cluster } = env();
    const seen = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const res = await fetch(`${cluster.url}/socket.io/?EIO=4&transport=polling`);
      assert.equal(res.status, 200);
      const node = res.headers.get("x-parley-node");
      assert.match(node ?? "", /^node[123]$/);
      seen.add(node!);
      const cookie = res.headers.get("set-cookie");
      if (LB_MODE === "sticky") assert.match(cookie ?? "", new RegExp(`^PARLEY_NODE=${node};`), "the sticky cookie names the node");
      else assert.equal(cookie, null, "no cookie without stickiness");
      await res.text();
    }
    assert.deepEqual([...seen].sort(), ["node1", "node2", "node3"]);
  });

  it("answers /readyz from the nodes", async () => {
    const res = await fetch(`${env().cluster.url}/readyz`);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), "ready");
  });
});

for (const mode of MODES) {
  describe(`/chat across three nodes [${mode}]`, () => {
    it("a message posted on each node is acked and reaches the members on the other two nodes, once", async () => {
      const { room, clients } = await threeNodes(mode);
      for (const [i, from] of clients.entries()) {
        const msg = await send(from, room, `from node${i + 1}`);
        assert.equal(msg.content, `from node${i + 1}`);
        assert.deepEqual(msg.sender, from.user);
        for (const [j, to] of clients.entries()) {
          if (j === i) continue;
          assert.deepEqual(await to.log.next("newChatMessage"), msg, `node${j + 1} gets node${i + 1}'s message`);
        }
      }
      for (const c of clients) assert.equal(c.log.count("newChatMessage"), 2, "two messages, each once, none of one's own");
      assertNodesRunning(env().cluster);
    });

    it("history is one, shared through PostgreSQL: fetched on any node, every message once, in commit order", async () => {
      const { room, clients } = await threeNodes(mode);
      // Concurrent posts on the three nodes.
      const acked = (
        await Promise.all(clients.map(async (c, i) => Promise.all([0, 1, 2, 3].map((k) => send(c, room, `n${i + 1}-${k}`)))))
      ).flat();
      const byId = [...acked].sort((a, b) => (a.id < b.id ? -1 : 1));
      for (const c of clients) {
        const page = await ok(c.socket, "fetchHistory", { room, limit: 50 });
        assert.equal(page.hasMore, false);
        assert.deepEqual(
          page.messages.map((m) => m.id),
          byId.map((m) => m.id),
          "every node returns every acked message once, in id order",
        );
      }
      const { cluster } = env();
      const rows = await cluster.postgres.query(`SELECT count(*), count(DISTINCT content) FROM messages WHERE room = '${room}'`);
      assert.deepEqual(rows, ["12|12"], "PostgreSQL holds the 12 messages, once each");
    });

    it("a resend with the same clientMsgId through another node returns the original and is not broadcast again", async () => {
      const { cluster } = env();
      const room = uniqueRoom("ha-resend");
      const ann = newUser("Ann");
      const tab1 = await connectOn(cluster, 0, { mode, user: ann });
      const tab2 = await connectOn(cluster, 1, { mode, user: ann });
      const bob = await connectOn(cluster, 2, { mode, user: newUser("Bob") });
      for (const c of [tab1, tab2, bob]) await ok(c.socket, "joinRoom", { room });

      const first = await send(tab1, room, "only once", "cmid-1");
      assert.deepEqual(await bob.log.next("newChatMessage"), first);
      assert.deepEqual(await tab2.log.next("newChatMessage"), first);
      const again = await send(tab2, room, "only once", "cmid-1");
      assert.deepEqual(again, first, "the resend through node2 returns node1's message");

      // Bob's next message is the sentinel: the resend was not broadcast.
      const sentinel = await send(bob, room, "sentinel");
      assert.deepEqual(await tab1.log.next("newChatMessage"), sentinel);
      await negativeWindow();
      assert.equal(bob.log.count("newChatMessage"), 1);
      const rows = await cluster.postgres.query(`SELECT count(*) FROM messages WHERE room = '${room}' AND client_msg_id = 'cmid-1'`);
      assert.deepEqual(rows, ["1"]);
    });

    it("the HTTP API through the balancer reaches the members on every node", async () => {
      const { room, clients } = await threeNodes(mode);
      const { lb } = env();
      const stored = (await lb.publish(room, "from the backend")) as { id: string };
      for (const c of clients) assert.equal((await c.log.next("newChatMessage")).id, stored.id);
    });
  });
}
