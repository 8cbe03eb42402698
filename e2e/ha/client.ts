// Clients of the e2e/ha suite: /chat sockets (e2e/chat's helpers, the real
// npm socket.io-client) that connect through HAProxy, placed on a chosen
// node: a client connects through the balancer and, when the node's log
// shows it landed elsewhere, closes and connects again (the balancer turns
// round, so this takes at most a few attempts). One hook per file starts
// the cluster.

import assert from "node:assert/strict";
import { after, before } from "node:test";
import { closeClient, connectClient, type ChatClient, type ClientOptions } from "../chat/client.ts";
import type { Parley } from "../support/parley.ts";
import { asParley, clientOptions, startCluster, type Cluster, type ClusterOptions } from "./cluster.ts";

/** Starts a cluster for the file (before), checks that no node died by itself and stops it (after). */
export function useCluster(opts: ClusterOptions = {}): () => { cluster: Cluster; lb: Parley } {
  let current: { cluster: Cluster; lb: Parley } | undefined;
  before(async () => {
    const cluster = await startCluster(opts);
    current = { cluster, lb: asParley(cluster) };
  });
  after(async () => {
    await current?.cluster.stop();
    current = undefined;
  });
  return () => {
    if (!current) throw new Error("the cluster is not running");
    return current;
  };
}

/** Asserts that the nodes not in `killed` are still running (no node died by itself). */
export function assertNodesRunning(cluster: Cluster, killed: readonly number[] = []): void {
  cluster.nodes.forEach((n, i) => {
    if (!killed.includes(i)) assert.ok(n.running(), `node${i + 1} died during the test:\n${n.output()}`);
  });
}

/**
 * Connects a /chat client through HAProxy until it lands on `node` (by the
 * node's log), closing the ones that land elsewhere. The client keeps the
 * balancer's cookie (clientOptions).
 */
export async function connectOn(
  cluster: Cluster,
  node: number,
  opts: ClientOptions & { user: { userId: string; name: string } },
): Promise<ChatClient> {
  const lb = asParley(cluster);
  const seen: number[] = [];
  for (let attempt = 0; attempt < 30; attempt++) {
    const before = cluster.counts(opts.user.userId);
    const c = await connectClient(lb, { ...opts, extra: { ...clientOptions(), ...opts.extra } });
    const on = await cluster.waitConnected(opts.user.userId, before);
    if (on === node) return c;
    seen.push(on);
    closeClient(c.socket);
    // Round-robin hands requests out in turn: a connection attempt that
    // always makes the same number of requests (a polling handshake, its
    // CONNECT POST and GET: three, as many as there are nodes) would land
    // its handshake on the same node every time. Zero to two more requests,
    // at random, shift the turn: 30 attempts all missing one node of three
    // is a chance of (2/3)^30, about 5 in a million.
    for (let k = Math.floor(Math.random() * 3); k > 0; k--) {
      await fetch(`${lb.url}/healthz`).then((r) => r.arrayBuffer());
    }
  }
  throw new Error(`${opts.user.userId} never landed on node${node + 1} through HAProxy (landed on ${seen.map((n) => `node${n + 1}`).join(", ")})`);
}
