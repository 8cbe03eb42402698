// How the cluster tests' HAProxy balances, and what socket.io-client needs
// for it. A module of its own, without the harness, so that the /chat and
// /presence suites' clients can import it.

/**
 * How HAProxy balances (deploy/haproxy.cfg, PARLEY_LB_MODE): "sticky"
 * inserts a cookie naming the node, which browsers, and socket.io-client
 * with withCredentials (clientOptions), send back; "roundrobin" balances
 * every request on its own, which the nodes make work by forwarding a
 * request for another node's session to its owner
 * (redisadapter/FORWARDING.md). The tests run round-robin; "sticky" stays
 * selectable (PARLEY_LB_MODE=sticky) to test the optional cookie.
 */
export const LB_MODE: "sticky" | "roundrobin" =
  (process.env["PARLEY_LB_MODE"] as "sticky" | "roundrobin" | undefined) ?? "roundrobin";

/** True when the /chat and /presence suites run against a cluster (support/hooks.ts). */
export const IN_CLUSTER = process.env["PARLEY_E2E_CLUSTER"] === "1";

/** Set by startCluster: this test process talks to a balancer. */
let clusterStarted = false;
export function markClusterStarted(): void {
  clusterStarted = true;
}

/**
 * Options of every socket.io-client of a cluster test: with a sticky
 * balancer, socket.io-client in Node keeps the balancer's cookie (per
 * engine, so a reconnection is balanced afresh) only with withCredentials.
 */
export function clientOptions(): { withCredentials?: boolean } {
  return LB_MODE === "sticky" ? { withCredentials: true } : {};
}

/**
 * clientOptions() for the /chat and /presence suites' clients when they run
 * against a cluster (PARLEY_E2E_CLUSTER=1, or a test that started one),
 * else nothing.
 */
export function suiteClientOptions(): { withCredentials?: boolean } {
  return IN_CLUSTER || clusterStarted ? clientOptions() : {};
}
