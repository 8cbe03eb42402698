// A Parley cluster behind a real load balancer, for the e2e/ha suite, the
// /chat and /presence suites run through it (PARLEY_E2E_CLUSTER, see
// support/hooks.ts) and the browser story: a redis-server (e2e/cluster's
// harness), a throwaway PostgreSQL (./postgres.ts), three bin/parley nodes
// on both (port 0, through e2e/support), and Debian's HAProxy running
// deploy/haproxy.cfg itself, so the configuration we ship is the one tested.
//
// Which node a client is on is read from the nodes' own connection log
// lines ("connected … user=<id>"), not guessed from the balancer.

import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { startRedis, type Redis } from "../cluster/harness.ts";
import { API_KEY, startParley, type Parley } from "../support/parley.ts";
import { HOST } from "../support/process.ts";
import { LB_MODE, markClusterStarted } from "./lb.ts";
import { startPostgres, type Postgres } from "./postgres.ts";

export { LB_MODE, clientOptions } from "./lb.ts";

const HAPROXY = process.env["HAPROXY"] ?? "/usr/sbin/haproxy";
const CONFIG = fileURLToPath(new URL("../../deploy/haproxy.cfg", import.meta.url));
const NODES = 3;
/** HAProxy's /readyz check interval: a killed node is out after two failed checks. */
const CHECK = "500ms";
const READY_MS = 15_000;

export interface ClusterOptions {
  /** Bearer key of the nodes' HTTP API (the same on every node); null: none. Default support/parley's API_KEY. */
  apiKey?: string | null;
  /** Flags for every node, after the cluster's own. */
  args?: readonly string[];
  /** Environment of every node. */
  env?: Readonly<Record<string, string>>;
}

export interface Cluster {
  /** HAProxy's address: what clients connect to. */
  readonly url: string;
  readonly nodes: readonly Parley[];
  readonly redis: Redis;
  readonly postgres: Postgres;
  /** Everything HAProxy printed (one log line per request). */
  lbOutput(): string;
  /** How many sockets user has connected in nsp (default /chat) so far, per node, by the nodes' "connected" log lines. */
  counts(userId: string, nsp?: string): number[];
  /**
   * Waits until a node logs a new connection of user in nsp (more than
   * `before`, a counts() taken earlier; default none) and returns its index.
   */
  waitConnected(userId: string, before?: readonly number[], nsp?: string): Promise<number>;
  /** Stops everything and removes every directory (idempotent). */
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen({ port: 0, host: HOST }, () => {
      const addr = probe.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

const haproxies = new Set<ChildProcess>();
process.on("exit", () => {
  for (const c of haproxies) c.kill("SIGKILL");
});

interface LB {
  url: string;
  output(): string;
  stop(): Promise<void>;
}

/** Runs HAProxy with deploy/haproxy.cfg on a free port in front of addrs; resolves once /readyz answers 200 through it. */
async function startHAProxy(addrs: readonly string[]): Promise<LB> {
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const env: Record<string, string> = {
      ...process.env,
      PARLEY_LB_BIND: `${HOST}:${port}`,
      PARLEY_LB_MODE: LB_MODE,
      PARLEY_LB_CHECK: CHECK,
    };
    addrs.forEach((a, i) => (env[`PARLEY_NODE${i + 1}`] = a));
    const child = spawn(HAPROXY, ["-db", "-f", CONFIG], { env, stdio: ["ignore", "pipe", "pipe"] });
    haproxies.add(child);
    let out = "";
    child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
    let exited = false;
    child.once("exit", () => {
      exited = true;
      haproxies.delete(child);
    });
    child.once("error", (err) => {
      exited = true;
      out += `\n${err.message}`;
    });
    const url = `http://${HOST}:${port}`;
    const stop = () =>
      new Promise<void>((resolve) => {
        if (exited) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGKILL");
      });
    const deadline = Date.now() + READY_MS;
    for (;;) {
      if (exited) break;
      const ok = await fetch(`${url}/readyz`).then(
        (r) => r.status === 200,
        () => false,
      );
      if (ok) return { url, output: () => out, stop };
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`HAProxy did not answer on ${url} within ${READY_MS} ms:\n${out}`);
      }
      await delay(50); // polling interval of a readiness probe
    }
    // It exited: the port was taken in between (or the config is wrong).
    if (attempt === 2) throw new Error(`${HAPROXY} -f ${CONFIG} exited:\n${out}`);
  }
}

/** The "connected" log lines of a node, as [user, nsp] pairs, in order. */
function connections(node: Parley): { user: string; nsp: string }[] {
  const out: { user: string; nsp: string }[] = [];
  for (const line of node.output().split("\n")) {
    if (!line.includes("msg=connected ")) continue;
    const user = /\buser=("(?:[^"\\]|\\.)*"|\S+)/.exec(line)?.[1];
    const nsp = /\bnsp=(\S+)/.exec(line)?.[1];
    if (user !== undefined && nsp !== undefined) out.push({ user: user.startsWith('"') ? (JSON.parse(user) as string) : user, nsp });
  }
  return out;
}

/** Starts Redis, PostgreSQL, three nodes on both, and HAProxy in front of them. */
export async function startCluster(opts: ClusterOptions = {}): Promise<Cluster> {
  markClusterStarted();
  const started: { stop(): Promise<void> }[] = [];
  const stopAll = async () => {
    for (const s of started.splice(0).reverse()) await s.stop().catch(() => undefined);
  };
  try {
    const [redis, postgres] = await Promise.all([startRedis(), startPostgres()]);
    started.push(postgres, redis);
    const nodes: Parley[] = [];
    // One after the other: the first applies the migrations, and a cold
    // start of three at once is slow on a small machine.
    for (let i = 0; i < NODES; i++) {
      const node = await startParley({
        ...(opts.apiKey === undefined ? {} : { apiKey: opts.apiKey }),
        args: ["--redis-url", redis.url, "--database-url", postgres.url, ...(opts.args ?? [])],
        ...(opts.env === undefined ? {} : { env: opts.env }),
      });
      nodes.push(node);
      started.push({ stop: () => node.dispose() });
    }
    const lb = await startHAProxy(nodes.map((n) => `${HOST}:${n.port}`));
    started.push(lb);
    const counts = (userId: string, nsp = "/chat") =>
      nodes.map((n) => connections(n).filter((c) => c.user === userId && c.nsp === nsp).length);
    return {
      url: lb.url,
      nodes,
      redis,
      postgres,
      lbOutput: () => lb.output(),
      counts,
      async waitConnected(userId, before = [], nsp = "/chat") {
        // The node logs the line as the socket connects; the client may see
        // its CONNECT a moment before the line reaches our pipe.
        const deadline = Date.now() + 5000;
        for (;;) {
          const now = counts(userId, nsp);
          const i = now.findIndex((n, i) => n > (before[i] ?? 0));
          if (i >= 0) return i;
          if (Date.now() > deadline) throw new Error(`no new "connected" line of ${userId} in ${nsp} on any node (${JSON.stringify(now)})`);
          await delay(20); // polling interval for a log line, not synchronisation
        }
      },
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/**
 * The cluster as the Parley the /chat and /presence suites drive: its url
 * is HAProxy's; the API key and publish are the nodes' (one key for all).
 * restart() is refused: a test that restarts its server is not a cluster
 * test.
 */
export function asParley(c: Cluster): Parley {
  const first = c.nodes[0]!;
  return {
    url: c.url,
    port: Number(new URL(c.url).port),
    dataDir: first.dataDir,
    apiKey: first.apiKey,
    get pid() {
      return first.pid;
    },
    output: () => c.nodes.map((n, i) => `--- node${i + 1}\n${n.output()}`).join("\n") + `\n--- haproxy\n${c.lbOutput()}`,
    running: () => c.nodes.every((n) => n.running()),
    exit: () => c.nodes.map((n) => n.exit()).find((e) => e !== undefined),
    stop: () => c.stop(),
    kill: () => c.stop(),
    restart: () => Promise.reject(new Error("a cluster test cannot restart its server")),
    dispose: () => c.stop(),
    async publish(room, content, sender = { id: "backend", name: "Backend" }) {
      const res = await fetch(`${c.url}/api/rooms/${encodeURIComponent(room)}/messages`, {
        method: "POST",
        headers: { Authorization: `Bearer ${first.apiKey ?? API_KEY}`, "Content-Type": "application/json" },
        body: JSON.stringify({ content, sender }),
      });
      const body: unknown = await res.json();
      if (!res.ok) throw new Error(`publish: ${res.status} ${JSON.stringify(body)}`);
      return body;
    },
  };
}
