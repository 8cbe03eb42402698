// The one process harness of the TypeScript suites: it starts a server
// program listening on 127.0.0.1 port 0 (or a given port) and reads the
// bound address from the line the program prints once it listens, so no
// port is ever guessed or probed. Every server we drive prints one:
//
//   bin/parley (slog)            msg="parley listening" addr=127.0.0.1:41234
//   parley conformance (slog)    msg="conformance profile listening" addr=…
//   bin/testserver               testserver listening addr=…
//   the Node twins               twin listening addr=…  /  … listening on host:port
//
// It depends on no test runner, so node:test suites and Playwright fixtures
// share it.

import { spawn, type ChildProcess } from "node:child_process";

export const HOST = "127.0.0.1";
/** How long a server may take from spawn to listening (a cold start on a loaded 2-core machine). */
const LISTEN_DEADLINE_MS = 15_000;
/** How long a SIGTERM may take before SIGKILL. */
const STOP_DEADLINE_MS = 5_000;

/** The line a server prints once it listens, with the bound host and port. */
const LISTENING = /listening"?\s+(?:addr=|on\s+)([0-9.]+|\[[0-9a-f:]+\]):(\d+)\b/;

export interface ProcessSpec {
  /** Program and arguments; the listen address is among the arguments (see listenArgs). */
  readonly cmd: string;
  readonly args: readonly string[];
  /** Added to this process's environment. */
  readonly env?: Readonly<Record<string, string>>;
  /** Names the program in errors, with a hint on how to build it. */
  readonly what: string;
}

export interface Server {
  /** e.g. http://127.0.0.1:41234 */
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  /** Everything the process printed so far (for failure diagnostics). */
  output(): string;
  /** True while the process has not exited. */
  running(): boolean;
  /** How the process ended: its exit code, or the signal that killed it; undefined while running. */
  exit(): { code: number | null; signal: NodeJS.Signals | null } | undefined;
  /** SIGTERM (graceful shutdown); SIGKILL if it has not exited after a bound. */
  stop(): Promise<void>;
  /** SIGKILL: no shutdown, no flush. */
  kill(): Promise<void>;
}

/** `--addr 127.0.0.1:<port>`, port 0 (the kernel picks a free one) unless given. */
export function listenArgs(port = 0): string[] {
  return ["--addr", `${HOST}:${port}`];
}

// Servers still running when the test process exits (crash, cancellation)
// are killed rather than left behind.
const children = new Set<ChildProcess>();
process.on("exit", () => {
  for (const child of children) child.kill("SIGKILL");
});

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

function signal(child: ChildProcess, sig: NodeJS.Signals): Promise<void> {
  if (exited(child)) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => child.kill("SIGKILL"), STOP_DEADLINE_MS);
    child.once("exit", () => {
      clearTimeout(force);
      resolve();
    });
    child.kill(sig);
  });
}

/**
 * Spawns the program and resolves once it printed its listening line, with
 * the address from that line. Rejects (and kills the process) when it exits
 * first, cannot be spawned, or does not listen within a bound.
 */
export function startProcess(spec: ProcessSpec): Promise<Server> {
  const child = spawn(spec.cmd, [...spec.args], {
    env: { ...process.env, ...spec.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.add(child);
  child.once("exit", () => children.delete(child));
  let out = "";
  const cmdline = `${spec.cmd} ${spec.args.join(" ")}`;
  return new Promise<Server>((resolve, reject) => {
    let settled = false;
    const fail = (msg: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      void signal(child, "SIGKILL").then(() => reject(new Error(`${msg} (${cmdline}):\n${out}`)));
    };
    const timer = setTimeout(() => fail(`${spec.what} did not listen within ${LISTEN_DEADLINE_MS} ms`), LISTEN_DEADLINE_MS);
    const onData = (d: Buffer) => {
      out += d.toString();
      if (settled) return;
      const m = LISTENING.exec(out);
      if (m === null) return;
      settled = true;
      clearTimeout(timer);
      const port = Number(m[2]);
      resolve({
        url: `http://${m[1]}:${port}`,
        port,
        pid: child.pid!,
        output: () => out,
        running: () => !exited(child),
        exit: () => (exited(child) ? { code: child.exitCode, signal: child.signalCode } : undefined),
        stop: () => signal(child, "SIGTERM"),
        kill: () => signal(child, "SIGKILL"),
      });
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.once("error", (err) => fail(`cannot start ${spec.what}: ${err.message}`));
    // "close", not "exit": the output is complete by then, for the error.
    child.once("close", () => fail(`${spec.what} exited before listening`));
  });
}
