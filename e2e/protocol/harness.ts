// Test-server harness for the protocol conformance suite.
//
// Starts the server described by TESTSERVER.md on a free 127.0.0.1 port below
// 32768, waits for GET /healthz to answer 200 (bounded), and stops it again.
// The server command is the binary named by $PARLEY_TESTSERVER (it takes the
// TESTSERVER.md flags), or, when that is unset, the Node twin
// (`node twin/server.mjs`).

import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { after, before } from "node:test";

const TWIN = fileURLToPath(new URL("./twin/server.mjs", import.meta.url));
const HOST = "127.0.0.1";
const PORT_MIN = 20000;
const PORT_MAX = 32767; // stay below the Linux ephemeral range (32768+)
const HEALTH_DEADLINE_MS = 10_000;
const STOP_DEADLINE_MS = 3_000;

export interface ServerFlags {
  pingInterval?: number;
  pingTimeout?: number;
  maxPayload?: number;
  connectTimeout?: number;
  recovery?: boolean;
}

export interface TestServer {
  /** e.g. http://127.0.0.1:23456 */
  readonly url: string;
  readonly port: number;
  readonly flags: Readonly<ServerFlags>;
  /** Everything the server printed so far (for failure diagnostics). */
  output(): string;
  stop(): Promise<void>;
}

/** Which implementation the suite is driving. */
export const serverKind: "parley" | "twin" = process.env.PARLEY_TESTSERVER ? "parley" : "twin";

function flagArgs(addr: string, flags: ServerFlags): string[] {
  const args = ["--addr", addr];
  if (flags.pingInterval !== undefined) args.push("--ping-interval", String(flags.pingInterval));
  if (flags.pingTimeout !== undefined) args.push("--ping-timeout", String(flags.pingTimeout));
  if (flags.maxPayload !== undefined) args.push("--max-payload", String(flags.maxPayload));
  if (flags.connectTimeout !== undefined) args.push("--connect-timeout", String(flags.connectTimeout));
  if (flags.recovery) args.push("--recovery");
  return args;
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once("error", () => resolve(false));
    probe.listen({ port, host: HOST, exclusive: true }, () => {
      probe.close(() => resolve(true));
    });
  });
}

async function pickPort(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = PORT_MIN + Math.floor(Math.random() * (PORT_MAX - PORT_MIN + 1));
    if (await portIsFree(port)) return port;
  }
  throw new Error(`no free port found in ${PORT_MIN}-${PORT_MAX}`);
}

// Servers still running when the test process exits (crash, cancellation)
// are killed rather than left behind.
const children = new Set<ChildProcess>();
process.on("exit", () => {
  for (const child of children) child.kill("SIGKILL");
});

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
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

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const killTimer = setTimeout(() => child.kill("SIGKILL"), STOP_DEADLINE_MS);
    child.once("exit", () => {
      clearTimeout(killTimer);
      resolve();
    });
    child.kill("SIGTERM");
  });
}

async function startOnce(flags: ServerFlags): Promise<TestServer> {
  const port = await pickPort();
  const addr = `${HOST}:${port}`;
  const url = `http://${addr}`;
  const bin = process.env.PARLEY_TESTSERVER;
  const [cmd, args] = bin
    ? [bin, flagArgs(addr, flags)]
    : [process.execPath, [TWIN, ...flagArgs(addr, flags)]];

  const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
  children.add(child);
  child.once("exit", () => children.delete(child));
  let out = "";
  child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (out += d.toString()));
  let exited = false;
  child.once("exit", () => (exited = true));
  let spawnError: Error | undefined;
  child.once("error", (err) => (spawnError = err));

  const deadline = Date.now() + HEALTH_DEADLINE_MS;
  while (Date.now() < deadline) {
    if (spawnError) throw new Error(`cannot start ${cmd}: ${spawnError.message}`);
    if (exited) {
      throw new Error(`test server exited before becoming healthy (${cmd} ${args.join(" ")}):\n${out}`);
    }
    if (await healthy(url)) {
      return {
        url,
        port,
        flags,
        output: () => out,
        stop: () => stopChild(child),
      };
    }
    await delay(50); // polling interval of the readiness probe, not test synchronisation
  }
  await stopChild(child);
  throw new Error(`test server not healthy within ${HEALTH_DEADLINE_MS} ms (${cmd} ${args.join(" ")}):\n${out}`);
}

/** Starts one test server with the given flags. The caller must stop() it. */
export async function startServer(flags: ServerFlags = {}): Promise<TestServer> {
  let lastError: unknown;
  // A port that was free when probed can be taken before the server binds it:
  // retry a couple of times with a new port.
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startOnce(flags);
    } catch (err) {
      lastError = err;
    }
  }
  throw lastError;
}

/**
 * Registers before/after hooks that start one server for the enclosing
 * test file (or describe block) and stop it afterwards. The returned getter
 * throws if used before the server is up.
 */
export function useServer(flags: ServerFlags = {}): () => TestServer {
  let server: TestServer | undefined;
  before(async () => {
    server = await startServer(flags);
  });
  after(async () => {
    await server?.stop();
    server = undefined;
  });
  return () => {
    if (!server) throw new Error("test server is not running");
    return server;
  };
}
