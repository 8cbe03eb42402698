// Client-side helpers for the protocol suite: socket.io-client factories per
// transport mode over the shared event log and bounded waits
// (e2e/support). Nothing here sleeps to synchronise: every wait resolves on
// an event and fails after a bounded timeout.

import assert from "node:assert/strict";
import { after, afterEach, before } from "node:test";
import { io, type Socket, type ManagerOptions, type SocketOptions } from "socket.io-client";
import { startServer, type ServerFlags, type TestServer } from "./harness.ts";
import { EventLog } from "../support/log.ts";
import { WAIT_MS, within, negativeWindow as supportNegativeWindow } from "../support/within.ts";

export { EventLog, WAIT_MS, within };
/** Bound for proving that something does NOT happen (keep ≤ 500 ms). */
export const NEGATIVE_MS = 400;

export type Mode = "polling" | "websocket" | "upgrade";
/** polling only, websocket only, and the default (polling, then upgrade to websocket). */
export const MODES: readonly Mode[] = ["polling", "websocket", "upgrade"];

export function transportsFor(mode: Mode): string[] | undefined {
  switch (mode) {
    case "polling":
      return ["polling"];
    case "websocket":
      return ["websocket"];
    case "upgrade":
      return undefined; // socket.io-client default: ["polling", "websocket", "webtransport"]
  }
}

/**
 * A promise that resolves after `ms` (at most NEGATIVE_MS by default). Only
 * for bounded negative checks (proving something did not happen); never as
 * synchronisation.
 */
export function negativeWindow(ms: number = NEGATIVE_MS): Promise<void> {
  return supportNegativeWindow(ms);
}

export interface ClientOptions {
  nsp?: string;
  mode?: Mode;
  auth?: Record<string, unknown>;
  /** Manager reconnection; off unless a test is about reconnecting. */
  reconnection?: boolean;
  extra?: Partial<ManagerOptions & SocketOptions>;
}

export interface Client {
  readonly socket: Socket;
  readonly log: EventLog;
  readonly mode: Mode;
  /** Resolves once the engine has upgraded to websocket (mode "upgrade" only). */
  readonly upgraded: Promise<void>;
}

interface Tracked {
  server: TestServer;
  nsp: string;
}
const openSockets = new Map<Socket, Tracked>();

/** Creates a socket.io-client socket (own Manager, own engine) and starts recording. */
export function createClient(server: TestServer, opts: ClientOptions = {}): Client {
  const mode = opts.mode ?? "websocket";
  const transports = transportsFor(mode);
  const socket = io(server.url + (opts.nsp ?? "/"), {
    forceNew: true,
    reconnection: opts.reconnection ?? false,
    reconnectionDelay: 50,
    reconnectionDelayMax: 100,
    randomizationFactor: 0,
    timeout: WAIT_MS,
    ...(transports ? { transports } : {}),
    ...(opts.auth ? { auth: opts.auth } : {}),
    ...opts.extra,
  });
  openSockets.set(socket, { server, nsp: opts.nsp ?? "/" });
  const log = new EventLog(socket);
  const engine = socket.io.engine;
  const upgraded =
    mode === "upgrade"
      ? new Promise<void>((resolve) => engine.once("upgrade", () => resolve()))
      : Promise.resolve();
  // Avoid unhandled rejections if nobody awaits it.
  upgraded.catch(() => undefined);
  return { socket, log, mode, upgraded };
}

/**
 * Creates a client and waits for its "connect"; in "upgrade" mode also waits
 * for the websocket upgrade and asserts that it happened.
 */
export async function connectClient(server: TestServer, opts: ClientOptions = {}): Promise<Client> {
  const c = createClient(server, opts);
  await c.log.nextArgs("connect");
  assert.ok(c.socket.connected, "socket connected");
  assert.equal(typeof c.socket.id, "string");
  await assertTransport(c);
  return c;
}

/** Asserts the engine runs on the transport the mode implies (waiting for the upgrade if needed). */
export async function assertTransport(c: Client): Promise<void> {
  if (c.mode === "upgrade") {
    await within(c.upgraded, WAIT_MS, "transport upgrade");
    assert.equal(c.socket.io.engine.transport.name, "websocket", "upgraded to websocket");
  } else {
    assert.equal(c.socket.io.engine.transport.name, c.mode);
  }
}

/** Emits with an acknowledgement, bounded. */
export function ask<T = unknown>(socket: Socket, event: string, ...args: unknown[]): Promise<T> {
  return socket.timeout(WAIT_MS).emitWithAck(event, ...args) as Promise<T>;
}

export function closeClient(socket: Socket): void {
  openSockets.delete(socket);
  socket.disconnect();
  socket.io.engine?.close();
}

let suiteServer: TestServer | undefined;
let cleanupObserver: Observer | undefined;

/**
 * Closes every client created by createClient (runs after each test). For
 * clients of the file's main server it then waits until the server has
 * processed each disconnection (seen on /observer), so that no test sees the
 * previous test's sockets in namespace-wide operations.
 */
export async function closeAllClients(): Promise<void> {
  const waits: Promise<unknown>[] = [];
  for (const [socket, t] of [...openSockets]) {
    const id = socket.id;
    const wasConnected = socket.connected;
    closeClient(socket);
    if (wasConnected && id && cleanupObserver && t.server === suiteServer && t.nsp !== "/observer") {
      waits.push(cleanupObserver.reasonFor(id, t.nsp));
    }
  }
  await Promise.all(waits);
}

afterEach(() => closeAllClients());

/**
 * Heartbeat used by files that do not test the heartbeat itself: the
 * contract's defaults (300/200 ms) are tight enough that a loaded machine can
 * make a healthy client miss a pong and turn an unrelated test flaky.
 */
export const RELAXED_HEARTBEAT: ServerFlags = { pingInterval: 1000, pingTimeout: 5000 };

/**
 * Starts the file's test server plus a private /observer connection used to
 * make per-test cleanup deterministic. Unless the flags set the heartbeat,
 * RELAXED_HEARTBEAT applies.
 */
export function useSuiteServer(flags: ServerFlags = {}): () => TestServer {
  flags = { ...RELAXED_HEARTBEAT, ...flags };
  // One hook each: on Node 20, top-level hooks start as soon as they are
  // registered, so two `before` hooks would not run one after the other.
  before(async () => {
    suiteServer = await startServer(flags);
    const c = createClient(suiteServer, { nsp: "/observer", mode: "websocket" });
    openSockets.delete(c.socket); // not closed between tests
    await c.log.nextArgs("connect");
    cleanupObserver = new Observer(c);
  });
  after(async () => {
    cleanupObserver?.client.socket.disconnect();
    cleanupObserver = undefined;
    await suiteServer?.stop();
    suiteServer = undefined;
  });
  return () => {
    if (!suiteServer) throw new Error("test server is not running");
    return suiteServer;
  };
}

/** Connects the /observer namespace (server-side disconnect reasons). */
export async function connectObserver(server: TestServer): Promise<Observer> {
  const c = await connectClient(server, { nsp: "/observer", mode: "websocket" });
  return new Observer(c);
}

export interface Disconnected {
  id: string;
  nsp: string;
  reason: string;
}

export class Observer {
  private readonly records: Disconnected[] = [];
  private readonly wakers = new Set<() => void>();

  constructor(readonly client: Client) {
    // Records seen before this Observer existed are in the client's log.
    for (const [d] of client.log.allArgs("disconnected")) this.records.push(d as Disconnected);
    client.socket.on("disconnected", (d: Disconnected) => {
      this.records.push(d);
      for (const wake of [...this.wakers]) wake();
    });
  }

  /** Waits for the server-side disconnect record of socket `id` (in namespace `nsp`, if given). */
  async reasonFor(id: string, nsp?: string, ms: number = WAIT_MS): Promise<Disconnected> {
    const find = (): Disconnected | undefined =>
      this.records.find((d) => d.id === id && (nsp === undefined || d.nsp === nsp));
    const hit = find();
    if (hit) return hit;
    let wake: (() => void) | undefined;
    const found = new Promise<Disconnected>((resolve) => {
      wake = () => {
        const d = find();
        if (d) resolve(d);
      };
      this.wakers.add(wake);
    });
    try {
      return await within(found, ms, `server-side disconnect of ${id}${nsp ? ` on ${nsp}` : ""}`);
    } finally {
      this.wakers.delete(wake!);
    }
  }

  /** All disconnect records seen so far. */
  seen(): Disconnected[] {
    return [...this.records];
  }
}

/** Deterministic large-ish binary test value. */
export function bytes(n: number, seed = 1): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}
