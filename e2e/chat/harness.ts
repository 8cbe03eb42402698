// Process harness for the /chat suite: runs the real `parley` binary
// ($PARLEY_BIN, default <repo>/bin/parley) on a free 127.0.0.1 port below
// 32768 with a temporary data directory, waits for GET /healthz, and stops
// it again. A server that died on its own (a crash on bad input) fails the
// file's `after` hook with the server's output.

import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before } from "node:test";

const REPO = fileURLToPath(new URL("../../", import.meta.url));
export const PARLEY_BIN = process.env.PARLEY_BIN ?? join(REPO, "bin", "parley");

const HOST = "127.0.0.1";
const PORT_MIN = 20000;
const PORT_MAX = 32767; // below the Linux ephemeral range (32768+)
const HEALTH_DEADLINE_MS = 10_000;
const STOP_DEADLINE_MS = 5_000;

/** The API key every suite server is started with unless `apiKey: null`. */
export const API_KEY = "e2e-chat-key";

export interface ParleyOptions {
  /** Bearer key of the HTTP API; null starts the server without one (API answers 404). */
  apiKey?: string | null;
  /** Data directory; by default a fresh temporary one owned by the server. */
  dataDir?: string;
  /** Listen port; by default a free one. */
  port?: number;
  /** Extra command-line flags. */
  args?: string[];
}

export interface Parley {
  /** e.g. http://127.0.0.1:23456 */
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  readonly apiKey: string | null;
  readonly pid: number;
  /** Everything the server printed so far (for failure diagnostics). */
  output(): string;
  /** True while the process has not exited. */
  running(): boolean;
  /** How the process ended: its exit code, or the signal that killed it; undefined while running. */
  exit(): { code: number | null; signal: NodeJS.Signals | null } | undefined;
  /** SIGTERM (graceful shutdown); SIGKILL if it has not exited after a bound. */
  stop(): Promise<void>;
  /** SIGKILL: no shutdown, no flush. */
  kill9(): Promise<void>;
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once("error", () => resolve(false));
    probe.listen({ port, host: HOST, exclusive: true }, () => probe.close(() => resolve(true)));
  });
}

async function pickPort(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = PORT_MIN + Math.floor(Math.random() * (PORT_MAX - PORT_MIN + 1));
    if (await portIsFree(port)) return port;
  }
  throw new Error(`no free port found in ${PORT_MIN}-${PORT_MAX}`);
}

async function healthy(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(500) });
    await res.arrayBuffer();
    return res.status === 200;
  } catch {
    return false;
  }
}

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

function signal(child: ChildProcess, sig: NodeJS.Signals): Promise<void> {
  if (exited(child)) return Promise.resolve();
  return new Promise((resolve) => {
    const killTimer = setTimeout(() => child.kill("SIGKILL"), STOP_DEADLINE_MS);
    child.once("exit", () => {
      clearTimeout(killTimer);
      resolve();
    });
    child.kill(sig);
  });
}

async function startOnce(opts: ParleyOptions, dataDir: string, port: number): Promise<Parley> {
  const url = `http://${HOST}:${port}`;
  const apiKey = opts.apiKey === undefined ? API_KEY : opts.apiKey;
  const args = [
    "--addr",
    `${HOST}:${port}`,
    "--data-dir",
    dataDir,
    // A heartbeat every 2 s keeps it exercised; the 5 s timeout tolerates a
    // loaded CI machine (no test here is about the heartbeat).
    "--ping-interval",
    "2s",
    "--ping-timeout",
    "5s",
    "--recovery-duration",
    "10s",
    "--shutdown-timeout",
    "3s",
    "--log-level",
    "warn",
    ...(apiKey === null ? [] : ["--api-key", apiKey]),
    ...(opts.args ?? []),
  ];
  // The environment passes through: the test:chat script turns the rate
  // limits off with PARLEY_RATE_LIMITS, since that suite floods single
  // sockets on purpose; the limits have their own suite (e2e/auth), which
  // shares this harness.
  const child = spawn(PARLEY_BIN, args, { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (out += d.toString()));
  let spawnError: Error | undefined;
  child.once("error", (err) => (spawnError = err));

  const deadline = Date.now() + HEALTH_DEADLINE_MS;
  while (Date.now() < deadline) {
    if (spawnError)
      throw new Error(
        `cannot start ${PARLEY_BIN}: ${spawnError.message} (build it: go build -o bin/parley ./cmd/parley)`,
      );
    if (exited(child)) throw new Error(`parley exited before becoming healthy (${args.join(" ")}):\n${out}`);
    if (await healthy(url)) {
      return {
        url,
        port,
        dataDir,
        apiKey,
        pid: child.pid!,
        output: () => out,
        running: () => !exited(child),
        exit: () => (exited(child) ? { code: child.exitCode, signal: child.signalCode } : undefined),
        stop: () => signal(child, "SIGTERM"),
        kill9: () => signal(child, "SIGKILL"),
      };
    }
    await new Promise((r) => setTimeout(r, 50)); // readiness-probe interval, not test synchronisation
  }
  await signal(child, "SIGKILL");
  throw new Error(`parley not healthy within ${HEALTH_DEADLINE_MS} ms (${args.join(" ")}):\n${out}`);
}

/** Creates a temporary data directory; the caller removes it with removeDir. */
export function tempDataDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), "parley-e2e-chat-"));
}

export function removeDir(dir: string): Promise<void> {
  return rm(dir, { recursive: true, force: true });
}

/**
 * Starts parley. Without opts.dataDir the caller owns no directory: pass one
 * from tempDataDir() and remove it yourself, or use useParley. With a fixed
 * port there is no retry (a restart must come back on the same port).
 */
export async function startParley(opts: ParleyOptions & { dataDir: string }): Promise<Parley> {
  if (opts.port !== undefined) return startOnce(opts, opts.dataDir, opts.port);
  let lastError: unknown;
  // A port free when probed can be taken before parley binds it: retry.
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startOnce(opts, opts.dataDir, await pickPort());
    } catch (err) {
      lastError = err;
    }
  }
  throw lastError;
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
  let dir: string | undefined;
  before(async () => {
    dir = await tempDataDir();
    server = await startParley({ ...opts, dataDir: dir });
  });
  after(async () => {
    try {
      if (server) assert.ok(server.running(), `parley died during the tests:\n${server.output()}`);
    } finally {
      await server?.kill9();
      server = undefined;
      if (dir) await removeDir(dir);
    }
  });
  return () => {
    if (!server) throw new Error("parley is not running");
    return server;
  };
}
