// Client-side helpers for the protocol suite: socket.io-client factories per
// transport mode, an event recorder that never misses an event, and bounded
// waits. Nothing here sleeps to synchronise: every wait resolves on an event
// and fails after a bounded timeout.

import assert from "node:assert/strict";
import { after, afterEach, before } from "node:test";
import { io, type Socket, type ManagerOptions, type SocketOptions } from "socket.io-client";
import { startServer, type ServerFlags, type TestServer } from "./harness.ts";

/** Default bound for waiting on something that must happen (generous: CI machines are small and shared). */
export const WAIT_MS = 5000;
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

/** Rejects with a descriptive error when `p` does not settle within `ms`. */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/**
 * A promise that resolves after `ms`. Only for bounded negative checks
 * (proving something did not happen); never as synchronisation.
 */
export function negativeWindow(ms: number = NEGATIVE_MS): Promise<void> {
  assert.ok(ms <= 500, "negative checks must stay short");
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export interface Received {
  readonly event: string;
  readonly args: unknown[];
  consumed: boolean;
}

interface Waiter {
  event: string;
  resolve: (args: unknown[]) => void;
}

/**
 * Records every event a socket receives, in order, from the moment the socket
 * is created, so that events emitted by the server right after the CONNECT
 * (in the same payload) are never missed. Reserved events (connect,
 * disconnect, connect_error) are recorded too.
 */
export class EventLog {
  readonly entries: Received[] = [];
  private waiters: Waiter[] = [];

  constructor(socket: Socket) {
    socket.onAny((event: string, ...args: unknown[]) => this.push(event, args));
    socket.on("connect", () => this.push("connect", []));
    socket.on("disconnect", (reason, description) => this.push("disconnect", [reason, description]));
    socket.on("connect_error", (err) => this.push("connect_error", [err]));
  }

  private push(event: string, args: unknown[]): void {
    const entry: Received = { event, args, consumed: false };
    this.entries.push(entry);
    const i = this.waiters.findIndex((w) => w.event === event);
    if (i >= 0) {
      const [w] = this.waiters.splice(i, 1);
      entry.consumed = true;
      w!.resolve(args);
    }
  }

  /** Resolves with the args of the first not-yet-consumed `event`, waiting for it if needed. */
  next(event: string, ms: number = WAIT_MS): Promise<unknown[]> {
    const entry = this.entries.find((e) => e.event === event && !e.consumed);
    if (entry) {
      entry.consumed = true;
      return Promise.resolve(entry.args);
    }
    let waiter: Waiter | undefined;
    const p = new Promise<unknown[]>((resolve) => {
      waiter = { event, resolve };
      this.waiters.push(waiter);
    });
    return within(p, ms, `event "${event}"`).catch((err: unknown) => {
      this.waiters = this.waiters.filter((w) => w !== waiter);
      throw err;
    });
  }

  /** Names of all events received so far, in order. */
  names(): string[] {
    return this.entries.map((e) => e.event);
  }

  /** All args lists received for `event`, consumed or not. */
  all(event: string): unknown[][] {
    return this.entries.filter((e) => e.event === event).map((e) => e.args);
  }

  count(event: string): number {
    return this.entries.filter((e) => e.event === event).length;
  }
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
  await c.log.next("connect");
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
    await c.log.next("connect");
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
    for (const [d] of client.log.all("disconnected")) this.records.push(d as Disconnected);
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
