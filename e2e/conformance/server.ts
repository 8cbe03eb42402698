// The conformance profile server for a test file, started through
// e2e/protocol's harness (free 127.0.0.1 port below 32768, bounded /healthz
// wait, stopped after the file). The harness runs whatever $PARLEY_TESTSERVER
// names with `--addr host:port`; here that is server.sh, which runs
// `$PARLEY_BIN conformance` when PARLEY_BIN is set, else the Node twin
// (twin.mjs).

import { fileURLToPath } from "node:url";
import { useServer, type TestServer } from "../protocol/harness.ts";

const LAUNCHER = fileURLToPath(new URL("./server.sh", import.meta.url));

/** Which implementation the suite is driving. */
export const target: "parley" | "twin" = process.env.PARLEY_BIN ? "parley" : "twin";

/** The profile's settings (cmd/parley/conformance.go, twin.mjs). */
export const PROFILE = {
  pingInterval: 300,
  pingTimeout: 200,
  maxPayload: 1_000_000,
  connectTimeout: 1000,
} as const;

/** Registers before/after hooks that start the profile for the file and stop it. */
export function useConformanceServer(): () => TestServer {
  process.env.PARLEY_TESTSERVER = LAUNCHER;
  process.env.CONFORMANCE_NODE = process.execPath; // the twin runs on this test's Node
  return useServer();
}
