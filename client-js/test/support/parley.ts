// Runs the real `parley` binary for tests: a free 127.0.0.1 port below
// 32768 (under the Linux ephemeral range, so no client socket holds it), a
// temporary data directory, readiness by GET /healthz. Used by the client's
// integration tests and by the Playwright fixtures (e2e/browser); it depends
// on no test runner.

import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const REPO = fileURLToPath(new URL("../../../", import.meta.url));
/** The server binary: $PARLEY_BIN, default <repo>/bin/parley (go build -o bin/parley ./cmd/parley). */
export const PARLEY_BIN = process.env["PARLEY_BIN"] ?? join(REPO, "bin", "parley");
export const HOST = "127.0.0.1";
const PORT_MIN = 20000;
const PORT_MAX = 32767;
const HEALTH_DEADLINE_MS = 10_000;
const STOP_DEADLINE_MS = 5_000;

/** The API key test servers are started with. */
export const API_KEY = "client-test-key";

export interface ParleyOptions {
  /** Data directory; default a new temporary one, removed by `dispose`. */
  dataDir?: string;
  /** Extra flags, after the defaults (which they override). */
  args?: readonly string[];
}

export interface Parley {
  /** e.g. http://127.0.0.1:23456 */
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  /** Everything the current process printed. */
  output(): string;
  running(): boolean;
  /** SIGTERM (graceful shutdown), SIGKILL after a bound. */
  stop(): Promise<void>;
  /** SIGKILL. */
  kill(): Promise<void>;
  /** Starts the server again on the same port and data directory. */
  restart(): Promise<void>;
  /** Kills the server and removes a data directory it created. */
  dispose(): Promise<void>;
  /** POST /api/rooms/:room/messages with the API key; returns the stored message. */
  publish(room: string, content: string, sender?: { id: string; name: string }): Promise<unknown>;
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once("error", () => resolve(false));
    probe.listen({ port, host: HOST, exclusive: true }, () => probe.close(() => resolve(true)));
  });
}

/** Picks a port in 20000-32767 that is free now. */
export async function freePort(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = PORT_MIN + Math.floor(Math.random() * (PORT_MAX - PORT_MIN + 1));
    if (await portIsFree(port)) return port;
  }
  throw new Error(`no free port in ${PORT_MIN}-${PORT_MAX}`);
}

async function healthy(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(500) });
    await res.arrayBuffer();
    return res.ok;
  } catch {
    return false;
  }
}

function exited(c: ChildProcess): boolean {
  return c.exitCode !== null || c.signalCode !== null;
}

function signal(c: ChildProcess, sig: NodeJS.Signals): Promise<void> {
  if (exited(c)) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => c.kill("SIGKILL"), STOP_DEADLINE_MS);
    c.once("exit", () => {
      clearTimeout(force);
      resolve();
    });
    c.kill(sig);
  });
}

function flags(port: number, dataDir: string, extra: readonly string[]): string[] {
  return [
    "--addr",
    `${HOST}:${port}`,
    "--data-dir",
    dataDir,
    "--api-key",
    API_KEY,
    "--ping-interval",
    "1s",
    "--ping-timeout",
    "2s",
    "--shutdown-timeout",
    "3s",
    "--log-level",
    "warn",
    ...extra,
  ];
}

async function spawnHealthy(port: number, args: string[], log: { out: string }): Promise<ChildProcess> {
  const child = spawn(PARLEY_BIN, args, { stdio: ["ignore", "pipe", "pipe"] });
  log.out = "";
  child.stdout?.on("data", (d: Buffer) => (log.out += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (log.out += d.toString()));
  let spawnError: Error | undefined;
  child.once("error", (e) => (spawnError = e));
  const url = `http://${HOST}:${port}`;
  const deadline = Date.now() + HEALTH_DEADLINE_MS;
  while (Date.now() < deadline) {
    if (spawnError)
      throw new Error(`cannot run ${PARLEY_BIN} (go build -o bin/parley ./cmd/parley): ${spawnError.message}`);
    if (exited(child)) throw new Error(`parley exited before becoming healthy:\n${log.out}`);
    if (await healthy(url)) return child;
    await new Promise((r) => setTimeout(r, 50)); // readiness probe interval
  }
  await signal(child, "SIGKILL");
  throw new Error(`parley not healthy within ${HEALTH_DEADLINE_MS} ms:\n${log.out}`);
}

/** Starts parley; retries on another port when the chosen one was taken meanwhile. */
export async function startParley(opts: ParleyOptions = {}): Promise<Parley> {
  const ownDir = opts.dataDir === undefined;
  const dataDir = opts.dataDir ?? (await mkdtemp(join(tmpdir(), "parley-client-")));
  const extra = opts.args ?? [];
  const log = { out: "" };
  let child: ChildProcess | undefined;
  let port = 0;
  let lastError: unknown;
  for (let attempt = 0; attempt < 3 && child === undefined; attempt++) {
    port = await freePort();
    try {
      child = await spawnHealthy(port, flags(port, dataDir, extra), log);
    } catch (e) {
      lastError = e;
    }
  }
  if (child === undefined) {
    if (ownDir) await rm(dataDir, { recursive: true, force: true });
    throw lastError;
  }
  let proc: ChildProcess = child;
  const url = `http://${HOST}:${port}`;
  return {
    url,
    port,
    dataDir,
    output: () => log.out,
    running: () => !exited(proc),
    stop: () => signal(proc, "SIGTERM"),
    kill: () => signal(proc, "SIGKILL"),
    async restart() {
      await signal(proc, "SIGTERM");
      proc = await spawnHealthy(port, flags(port, dataDir, extra), log);
    },
    async dispose() {
      await signal(proc, "SIGKILL");
      if (ownDir) await rm(dataDir, { recursive: true, force: true });
    },
    async publish(room, content, sender = { id: "backend", name: "Backend" }) {
      const res = await fetch(`${url}/api/rooms/${encodeURIComponent(room)}/messages`, {
        method: "POST",
        headers: { Authorization: `Bearer ${API_KEY}`, "Content-Type": "application/json" },
        body: JSON.stringify({ content, sender }),
      });
      const body: unknown = await res.json();
      if (!res.ok) throw new Error(`publish: ${res.status} ${JSON.stringify(body)}`);
      return body;
    },
  };
}
