// Test-server harness for the protocol conformance suite.
//
// Starts the server described by TESTSERVER.md on 127.0.0.1 port 0 through
// the shared process harness (e2e/support/process.ts), which reads the bound
// address from the server's listening line, and stops it again. The server
// command is the binary named by $PARLEY_TESTSERVER (it takes the
// TESTSERVER.md flags), or, when that is unset, the Node twin
// (`node twin/server.mjs`).

import { fileURLToPath } from "node:url";
import { after, before } from "node:test";
import { listenArgs, startProcess, type Server } from "../support/process.ts";

const TWIN = fileURLToPath(new URL("./twin/server.mjs", import.meta.url));

export interface ServerFlags {
  pingInterval?: number;
  pingTimeout?: number;
  maxPayload?: number;
  connectTimeout?: number;
  recovery?: boolean;
  /** Serve socket.io-client 2.x (Engine.IO v3) too: Node's allowEIO3 (e2e/eio3). */
  allowEIO3?: boolean;
}

export interface TestServer extends Server {
  readonly flags: Readonly<ServerFlags>;
}

/** Which implementation the suite is driving. */
export const serverKind: "parley" | "twin" = process.env.PARLEY_TESTSERVER ? "parley" : "twin";

function flagArgs(flags: ServerFlags): string[] {
  const args = listenArgs();
  if (flags.pingInterval !== undefined) args.push("--ping-interval", String(flags.pingInterval));
  if (flags.pingTimeout !== undefined) args.push("--ping-timeout", String(flags.pingTimeout));
  if (flags.maxPayload !== undefined) args.push("--max-payload", String(flags.maxPayload));
  if (flags.connectTimeout !== undefined) args.push("--connect-timeout", String(flags.connectTimeout));
  if (flags.recovery) args.push("--recovery");
  if (flags.allowEIO3) args.push("--allow-eio3");
  return args;
}

/** Starts one test server with the given flags. The caller must stop() it. */
export async function startServer(flags: ServerFlags = {}): Promise<TestServer> {
  const bin = process.env.PARLEY_TESTSERVER;
  const server = await startProcess(
    bin
      ? { cmd: bin, args: flagArgs(flags), what: `test server ${bin}` }
      : { cmd: process.execPath, args: [TWIN, ...flagArgs(flags)], what: "the Node twin" },
  );
  return { ...server, flags };
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
