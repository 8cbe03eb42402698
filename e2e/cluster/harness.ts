// Harness of the mixed cluster suite: a redis-server (Debian package) on a
// free port, a Parley node (e2e/testserver --redis-url, the binary named by
// $PARLEY_TESTSERVER) and a Node socket.io 4.8 node with
// @socket.io/redis-adapter (node-server.mjs) on it. The nodes listen on
// port 0 and print their address.

import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, connect as connectTCP } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { io as connect, type Socket } from "socket.io-client";

const NODE_SERVER = fileURLToPath(new URL("./node-server.mjs", import.meta.url));
const DEADLINE_MS = 10_000;

const children = new Set<ChildProcess>();
process.on("exit", () => {
  for (const child of children) child.kill("SIGKILL");
});

export interface Proc {
  readonly url: string;
  output(): string;
  stop(): Promise<void>;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen({ port: 0, host: "127.0.0.1" }, () => {
      const addr = probe.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

function stopChild(child: ChildProcess, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const killTimer = setTimeout(() => child.kill("SIGKILL"), 3000);
    child.once("exit", () => {
      clearTimeout(killTimer);
      resolve();
    });
    child.kill(signal);
  });
}

/** Spawns cmd and resolves once its output matches ready. */
async function spawnUntil(cmd: string, args: string[], ready: RegExp): Promise<{ child: ChildProcess; match: RegExpMatchArray; output: () => string }> {
  const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
  children.add(child);
  child.once("exit", () => children.delete(child));
  let out = "";
  let match: RegExpMatchArray | null = null;
  let failure: Error | undefined;
  const onData = (d: Buffer) => {
    out += d.toString();
    match ??= out.match(ready);
  };
  child.stdout?.on("data", onData);
  child.stderr?.on("data", onData);
  child.once("error", (err) => (failure = err));
  child.once("exit", (code, sig) => (failure ??= new Error(`${cmd} exited (${code ?? sig})`)));
  const deadline = Date.now() + DEADLINE_MS;
  while (!match) {
    if (failure) throw new Error(`${failure.message}:\n${out}`);
    if (Date.now() > deadline) {
      await stopChild(child, "SIGKILL");
      throw new Error(`${cmd} ${args.join(" ")} not ready within ${DEADLINE_MS} ms:\n${out}`);
    }
    await delay(20); // polling interval of the readiness probe, not test synchronisation
  }
  return { child, match, output: () => out };
}

export interface Redis extends Proc {
  /** Kills the server with SIGKILL. */
  kill(): Promise<void>;
  /** Starts it again on the same port. */
  restart(): Promise<void>;
}

function spawnRedis(port: number) {
  return spawnUntil(
    "redis-server",
    ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--loglevel", "notice"],
    /Ready to accept connections/,
  );
}

/** Starts redis-server on a free loopback port, without persistence. */
export async function startRedis(): Promise<Redis> {
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    try {
      let { child, output } = await spawnRedis(port);
      return {
        url: `redis://127.0.0.1:${port}/0`,
        output: () => output(),
        stop: () => stopChild(child),
        kill: () => stopChild(child, "SIGKILL"),
        async restart() {
          ({ child, output } = await spawnRedis(port));
        },
      };
    } catch (err) {
      if (attempt === 3) throw err;
    }
  }
}

async function startNode(cmd: string, args: string[]): Promise<Proc> {
  const { child, match, output } = await spawnUntil(cmd, args, /listening"?\s+(?:addr=|on\s+)?([0-9.]+|\[[0-9a-f:]+\]):(\d+)\b/);
  return { url: `http://127.0.0.1:${match[2]}`, output, stop: () => stopChild(child) };
}

/** Starts the Parley node ($PARLEY_TESTSERVER) on redisUrl. */
export function startParley(redisUrl: string, name = "parley"): Promise<Proc> {
  const bin = process.env.PARLEY_TESTSERVER;
  if (!bin) throw new Error("PARLEY_TESTSERVER must name the e2e/testserver binary");
  return startNode(bin, ["--addr", "127.0.0.1:0", "--ping-interval", "1000", "--ping-timeout", "2000", "--redis-url", redisUrl, "--name", name]);
}

/** Starts the Node socket.io node on redisUrl. */
export function startNodeServer(redisUrl: string, name = "node"): Promise<Proc> {
  return startNode(process.execPath, [NODE_SERVER, "--redis-url", redisUrl, "--name", name]);
}

export interface Client {
  readonly socket: Socket;
  readonly id: string;
  /** Resolves with the arguments of the next event named name. */
  next(name: string): Promise<unknown[]>;
  /** Sends an event and resolves with its acknowledgement. */
  call<T>(event: string, ...args: unknown[]): Promise<T>;
  close(): void;
}

/**
 * Connects socket.io-client to "/" of url over WebSocket with auth; every
 * event is queued, so no event is missed between two awaits.
 */
export async function dial(url: string, auth: Record<string, unknown> = {}): Promise<Client> {
  const socket = connect(url, { transports: ["websocket"], forceNew: true, reconnection: false, auth });
  const queues = new Map<string, unknown[][]>();
  const waiters = new Map<string, ((args: unknown[]) => void)[]>();
  const push = (name: string, args: unknown[]) => {
    const w = waiters.get(name);
    if (w && w.length > 0) {
      w.shift()!(args);
      return;
    }
    const q = queues.get(name) ?? [];
    q.push(args);
    queues.set(name, q);
  };
  socket.onAny((name: string, ...args: unknown[]) => {
    const last = args[args.length - 1];
    if (name === "ask" && typeof last === "function") {
      // Answer broadcasts with acks with this socket's id.
      (last as (v: unknown) => void)(socket.id);
      args = args.slice(0, -1);
    }
    push(name, args);
  });
  socket.on("disconnect", (reason) => push("disconnect", [reason]));
  const info = await new Promise<{ id: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no info from ${url}`)), DEADLINE_MS);
    socket.once("info", (i: { id: string }) => {
      clearTimeout(timer);
      resolve(i);
    });
    socket.once("connect_error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
  return {
    socket,
    id: info.id,
    next(name) {
      const q = queues.get(name);
      if (q && q.length > 0) return Promise.resolve(q.shift()!);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out waiting for ${name} on ${info.id}`)), DEADLINE_MS);
        const w = waiters.get(name) ?? [];
        w.push((args) => {
          clearTimeout(timer);
          resolve(args);
        });
        waiters.set(name, w);
      });
    },
    call<T>(event: string, ...args: unknown[]) {
      return socket.timeout(DEADLINE_MS).emitWithAck(event, ...args) as Promise<T>;
    },
    close() {
      socket.disconnect();
    },
  };
}

/** Waits until client's node sees count nodes. */
export async function waitServerCount(c: Client, count: number): Promise<void> {
  const deadline = Date.now() + DEADLINE_MS;
  for (;;) {
    const n = await c.call<number>("server-count");
    if (n === count) return;
    if (Date.now() > deadline) throw new Error(`server count stuck at ${n}, want ${count}`);
    await delay(20); // polling interval, not synchronisation
  }
}

/**
 * Starts HAProxy (Debian package haproxy) on a free loopback port in front
 * of backends ("127.0.0.1:port"), with `balance roundrobin` and no
 * stickiness: each HTTP request, and each WebSocket upgrade, goes to the
 * next backend in turn. Resolves once the frontend accepts connections.
 */
export async function startHAProxy(backends: string[]): Promise<Proc> {
  const bin = process.env.HAPROXY ?? "/usr/sbin/haproxy";
  const dir = await mkdtemp(join(tmpdir(), "parley-haproxy-"));
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const cfg = [
      "global",
      "  maxconn 1024",
      "defaults",
      "  mode http",
      "  timeout connect 5s",
      "  timeout client 60s",
      "  timeout server 60s",
      "  timeout tunnel 60s",
      "frontend fe",
      `  bind 127.0.0.1:${port}`,
      "  default_backend parley",
      "backend parley",
      "  balance roundrobin",
      ...backends.map((b, i) => `  server node${i + 1} ${b}`),
      "",
    ].join("\n");
    const file = join(dir, "haproxy.cfg");
    await writeFile(file, cfg);
    const child = spawn(bin, ["-db", "-f", file], { stdio: ["ignore", "pipe", "pipe"] });
    children.add(child);
    child.once("exit", () => children.delete(child));
    let out = "";
    child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr?.on("data", (d: Buffer) => (out += d.toString()));
    let failure: Error | undefined;
    child.once("error", (err) => (failure = err));
    child.once("exit", (code, sig) => (failure ??= new Error(`haproxy exited (${code ?? sig})`)));
    const deadline = Date.now() + DEADLINE_MS;
    while (!failure && !(await accepts(port))) {
      if (Date.now() > deadline) failure = new Error(`haproxy not accepting on ${port} within ${DEADLINE_MS} ms`);
      else await delay(20); // polling interval of the readiness probe, not test synchronisation
    }
    if (!failure) {
      return {
        url: `http://127.0.0.1:${port}`,
        output: () => out,
        async stop() {
          await stopChild(child);
          await rm(dir, { recursive: true, force: true });
        },
      };
    }
    await stopChild(child, "SIGKILL");
    if (attempt === 3) {
      await rm(dir, { recursive: true, force: true });
      throw new Error(`${failure.message}:\n${out}`);
    }
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connectTCP({ port, host: "127.0.0.1" });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}
