// bin/parley for the suites: started on port 0 (the bound address is read
// from its "parley listening" log line), with a data directory, an API key
// and heartbeat settings that tolerate a loaded CI machine. Used by the
// /chat, /presence, auth and browser suites and by client-js's integration
// tests.

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { listenArgs, startProcess, type Server } from "./process.ts";

const REPO = fileURLToPath(new URL("../../", import.meta.url));
/** The server binary: $PARLEY_BIN, default <repo>/bin/parley (go build -o bin/parley ./cmd/parley). */
export const PARLEY_BIN = process.env["PARLEY_BIN"] ?? join(REPO, "bin", "parley");

/** The API key servers are started with unless `apiKey: null`. */
export const API_KEY = "e2e-key";

export interface ParleyOptions {
  /** Bearer key of the HTTP API; null starts the server without one (the API answers 404). */
  apiKey?: string | null;
  /** Data directory; by default a new temporary one, removed by `dispose`. */
  dataDir?: string;
  /** Listen port; by default 0 (the kernel picks one). A restart reuses the port it got. */
  port?: number;
  /** Extra flags, after the defaults (which they override). The log level must stay at info or below: the listening line is read. */
  args?: readonly string[];
  /** Extra environment. */
  env?: Readonly<Record<string, string>>;
}

export interface Parley extends Server {
  readonly dataDir: string;
  readonly apiKey: string | null;
  /** Stops the server gracefully (SIGTERM) and starts it again on the same port and data directory. */
  restart(): Promise<void>;
  /** Kills the server (SIGKILL) and removes a data directory it created. */
  dispose(): Promise<void>;
  /** POST /api/rooms/:room/messages with the API key; returns the stored message. */
  publish(room: string, content: string, sender?: { id: string; name: string }): Promise<unknown>;
}

/** Creates a temporary data directory; the caller removes it with removeDir. */
export function tempDataDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), "parley-e2e-"));
}

export function removeDir(dir: string): Promise<void> {
  return rm(dir, { recursive: true, force: true });
}

function flags(port: number, dataDir: string, apiKey: string | null, extra: readonly string[]): string[] {
  return [
    ...listenArgs(port),
    "--data-dir",
    dataDir,
    // A heartbeat every 2 s keeps it exercised; the 5 s timeout tolerates a
    // loaded CI machine (no test that uses these defaults is about the
    // heartbeat).
    "--ping-interval",
    "2s",
    "--ping-timeout",
    "5s",
    "--recovery-duration",
    "10s",
    "--shutdown-timeout",
    "3s",
    ...(apiKey === null ? [] : ["--api-key", apiKey]),
    ...extra,
  ];
}

/**
 * Starts parley. The environment passes through: the test:chat script turns
 * the rate limits off with PARLEY_RATE_LIMITS, since that suite floods single
 * sockets on purpose; the limits have their own suite (e2e/auth).
 */
export async function startParley(opts: ParleyOptions = {}): Promise<Parley> {
  const ownDir = opts.dataDir === undefined;
  const dataDir = opts.dataDir ?? (await tempDataDir());
  const apiKey = opts.apiKey === undefined ? API_KEY : opts.apiKey;
  const extra = opts.args ?? [];
  const spawnAt = (port: number) =>
    startProcess({
      cmd: PARLEY_BIN,
      args: flags(port, dataDir, apiKey, extra),
      ...(opts.env === undefined ? {} : { env: opts.env }),
      what: `parley (${PARLEY_BIN}; build it: go build -o bin/parley ./cmd/parley)`,
    });
  let proc: Server;
  try {
    proc = await spawnAt(opts.port ?? 0);
  } catch (e) {
    if (ownDir) await removeDir(dataDir);
    throw e;
  }
  const { url, port } = proc;
  return {
    url,
    port,
    dataDir,
    apiKey,
    get pid() {
      return proc.pid;
    },
    output: () => proc.output(),
    running: () => proc.running(),
    exit: () => proc.exit(),
    stop: () => proc.stop(),
    kill: () => proc.kill(),
    async restart() {
      await proc.stop();
      proc = await spawnAt(port);
    },
    async dispose() {
      await proc.kill();
      if (ownDir) await removeDir(dataDir);
    },
    async publish(room, content, sender = { id: "backend", name: "Backend" }) {
      const res = await fetch(`${url}/api/rooms/${encodeURIComponent(room)}/messages`, {
        method: "POST",
        headers: { Authorization: `Bearer ${apiKey}`, "Content-Type": "application/json" },
        body: JSON.stringify({ content, sender }),
      });
      const body: unknown = await res.json();
      if (!res.ok) throw new Error(`publish: ${res.status} ${JSON.stringify(body)}`);
      return body;
    },
  };
}
