// A node dies (SIGKILL) mid-traffic behind HAProxy (the scenario is
// ../failover.ts). Its clients, one over WebSocket and one over
// long-polling, reconnect through the balancer to a live node (proved by
// the nodes' logs); senders on every node resend each unacknowledged
// message with its clientMsgId until it is acked. PostgreSQL then holds
// every acknowledged message exactly once; the clients that reconnected
// see exactly that history; the clients that stayed connected got every
// message live, once: a message the dying node committed but never
// published is broadcast by the resend that acks it, through whichever
// node (its broadcast is decided once per message id in Redis: core's
// OnceBroadcaster, redisadapter's gate), and one it did publish is not
// broadcast again.

import assert from "node:assert/strict";
import { it } from "node:test";
import { ok, useClientCleanup } from "../../chat/client.ts";
import { useCluster } from "../client.ts";
import { FAILOVER_ARGS, missing, runFailover } from "../failover.ts";

const env = useCluster({ args: FAILOVER_ARGS });
useClientCleanup();

it("a node killed with SIGKILL mid-traffic: its clients reconnect through HAProxy to another node, nothing acknowledged is lost or doubled", async () => {
  const o = await runFailover(env().cluster);
  const { ann, bob, cat, dan } = o.viewers;
  for (const v of [ann, bob]) assert.deepEqual(missing(o, v), [], `${v.c.user.name} sees every message once after reconnecting`);
  for (const v of [cat, dan]) {
    // Live: runFailover checked that no newChatMessage came twice.
    assert.deepEqual(missing(o, v), [], `${v.c.user.name} got every acknowledged message live`);
    // Its next fetch (a reload) has everything, once, in order.
    const page = await ok(v.c.socket, "fetchHistory", { room: o.room, limit: 200 });
    assert.deepEqual(
      page.messages.map((m) => m.id),
      o.stored.map((s) => s.id),
    );
  }
});
