// PENDING: a message that a node commits and then dies before fanning out
// (SIGKILL between the PostgreSQL commit and the Redis publish) is acked to
// its sender by the resend through another node, which returns the original
// and, as on one node, does not broadcast it again: the clients that stayed
// connected on the other nodes never get it live (only from history on
// their next fetch). Issue 12 asks that nothing acknowledged be lost on any
// screen. Not run by .ci/run (npm run test:ha:pending -w e2e); the kill
// lands in that window in most runs on a loaded machine. Move the
// assertion into tests/failover.test.ts once it holds.

import assert from "node:assert/strict";
import { it } from "node:test";
import { useClientCleanup } from "../../chat/client.ts";
import { useCluster } from "../client.ts";
import { FAILOVER_ARGS, missing, runFailover } from "../failover.ts";

const env = useCluster({ args: FAILOVER_ARGS });
useClientCleanup();

it("a node killed with SIGKILL mid-traffic: the clients on the other nodes get every acknowledged message live", async () => {
  const o = await runFailover(env().cluster);
  for (const v of Object.values(o.viewers)) {
    assert.deepEqual(missing(o, v), [], `${v.c.user.name} has every message`);
  }
});
