// node:test hooks over the process harness: one parley per test file (or
// describe block).

import assert from "node:assert/strict";
import { after, before } from "node:test";
import { IN_CLUSTER } from "../ha/lb.ts";
import { startParley, type Parley, type ParleyOptions } from "./parley.ts";

/**
 * With PARLEY_E2E_CLUSTER=1 (npm run test:ha), the server is a three-node
 * cluster behind HAProxy on Redis and PostgreSQL (e2e/ha/cluster.ts), every
 * node started with opts; its url is HAProxy's.
 */
async function startClusterParley(opts: Omit<ParleyOptions, "dataDir" | "port">): Promise<Parley> {
  const { asParley, startCluster } = await import("../ha/cluster.ts");
  return asParley(await startCluster(opts));
}

/**
 * Registers before/after hooks that run one parley for the enclosing file
 * (or describe block) on its own temporary data directory. The `after` hook
 * fails if the server is no longer running (it crashed), then kills it and
 * deletes the directory. Teardown uses SIGKILL on purpose: the graceful path
 * has its own tests (durability.test.ts), and a SIGTERM racing the clients'
 * own close requests can stall for the shutdown timeout.
 */
export function useParley(opts: Omit<ParleyOptions, "dataDir" | "port"> = {}): () => Parley {
  let server: Parley | undefined;
  before(async () => {
    server = IN_CLUSTER ? await startClusterParley(opts) : await startParley(opts);
  });
  after(async () => {
    try {
      if (server) assert.ok(server.running(), `parley died during the tests:\n${server.output()}`);
    } finally {
      await server?.dispose();
      server = undefined;
    }
  });
  return () => {
    if (!server) throw new Error("parley is not running");
    return server;
  };
}
