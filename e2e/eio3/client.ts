// socket.io-client 2.5.0 (npm alias socket.io-client-v2) for the Engine.IO v3
// suite: a typed view of the few parts of its API the suite uses (the
// package ships no types), per-transport factories, and an event log that
// records the named events from the socket's creation on (2.x has no
// onAny). Nothing here sleeps to synchronise: every wait resolves on an
// event or an ack and fails after a bounded timeout.

import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { afterEach } from "node:test";
import { WAIT_MS, within } from "../support/within.ts";

export { WAIT_MS, within };

/** The 2.x Manager options the suite sets. */
export interface V2Options {
  forceNew?: boolean;
  reconnection?: boolean;
  timeout?: number;
  transports?: string[];
  /** Engine handshake query; 2.x also appends it to a namespace's CONNECT. */
  query?: Record<string, string>;
  /** b64=1: binary travels as base64 text. */
  forceBase64?: boolean;
}

/** engine.io-client 3.x, as far as the suite looks at it. */
export interface V2Engine {
  readonly id: string;
  readonly transport: { readonly name: string };
  once(event: "upgrade", fn: () => void): void;
  close(): void;
}

/** A socket.io-client 2.x socket. */
export interface V2Socket {
  readonly id: string | undefined;
  readonly connected: boolean;
  readonly io: {
    readonly engine: V2Engine;
    on(event: "ping" | "pong", fn: (latency?: number) => void): void;
  };
  on(event: string, fn: (...args: any[]) => void): void;
  once(event: string, fn: (...args: any[]) => void): void;
  off(event: string, fn: (...args: any[]) => void): void;
  emit(event: string, ...args: unknown[]): void;
  close(): void;
}

/** A 2.x Manager: one engine, its sockets multiplexed over it. */
interface V2Manager {
  socket(nsp: string): V2Socket;
}

const require = createRequire(import.meta.url);
const io = require("socket.io-client-v2") as ((url: string, opts?: V2Options) => V2Socket) & {
  Manager: new (url: string, opts?: V2Options) => V2Manager;
};

export type Mode = "polling" | "websocket" | "upgrade";
/** polling only, websocket only, and 2.x's default (polling, then upgrade to websocket). */
export const MODES: readonly Mode[] = ["polling", "websocket", "upgrade"];

function transportsFor(mode: Mode): string[] {
  switch (mode) {
    case "polling":
      return ["polling"];
    case "websocket":
      return ["websocket"];
    case "upgrade":
      return ["polling", "websocket"];
  }
}

/** The events the log records: the contracts' server-to-client events and 2.x's own. */
const RECORDED = [
  "connect",
  "disconnect",
  "error",
  "connect_error",
  "auth",
  "info",
  "message-back",
  "ask",
  "packet-error",
  "nsp",
  "newChatMessage",
  "userJoined",
];

interface Entry {
  readonly event: string;
  readonly args: unknown[];
  consumed: boolean;
}

/** Every recorded event of one socket in arrival order; a wait consumes the first unconsumed match. */
export class V2Log {
  readonly entries: Entry[] = [];
  #waiters: { event: string; resolve: (args: unknown[]) => void }[] = [];

  constructor(
    socket: V2Socket,
    readonly label: string,
  ) {
    for (const event of RECORDED) {
      socket.on(event, (...args: unknown[]) => this.#push(event, args));
    }
  }

  #push(event: string, args: unknown[]): void {
    const e: Entry = { event, args, consumed: false };
    this.entries.push(e);
    const i = this.#waiters.findIndex((w) => w.event === event);
    if (i >= 0) {
      const [w] = this.#waiters.splice(i, 1);
      e.consumed = true;
      w!.resolve(args);
    }
  }

  /** The arguments of the first unconsumed `event`, waiting up to `ms` for it. */
  nextArgs(event: string, ms: number = WAIT_MS): Promise<unknown[]> {
    const e = this.entries.find((x) => !x.consumed && x.event === event);
    if (e) {
      e.consumed = true;
      return Promise.resolve(e.args);
    }
    return within(
      new Promise<unknown[]>((resolve) => this.#waiters.push({ event, resolve })),
      ms,
      `${this.label}: "${event}"`,
    );
  }

  /** The first argument of the next `event`. */
  async next(event: string, ms?: number): Promise<unknown> {
    return (await this.nextArgs(event, ms))[0];
  }

  /** Whether `event` was recorded at all. */
  has(event: string): boolean {
    return this.entries.some((e) => e.event === event);
  }
}

export interface Client {
  readonly socket: V2Socket;
  readonly log: V2Log;
  readonly mode: Mode;
  /** Resolves once the engine has upgraded to websocket (mode "upgrade" only). */
  readonly upgraded: Promise<void>;
}

export interface ClientOptions {
  nsp?: string;
  mode?: Mode;
  query?: Record<string, string>;
  forceBase64?: boolean;
}

const open = new Set<V2Socket>();

/** Creates a 2.x socket (own Manager, own engine) and starts recording; does not wait. */
export function createClient(url: string, opts: ClientOptions = {}): Client {
  const mode = opts.mode ?? "websocket";
  const socket = io(url + (opts.nsp ?? "/"), {
    forceNew: true,
    reconnection: false,
    timeout: WAIT_MS,
    transports: transportsFor(mode),
    ...(opts.query ? { query: opts.query } : {}),
    ...(opts.forceBase64 ? { forceBase64: true } : {}),
  });
  open.add(socket);
  const log = new V2Log(socket, `${opts.nsp ?? "/"} (${mode}${opts.forceBase64 ? ", b64" : ""})`);
  const upgraded =
    mode === "upgrade"
      ? new Promise<void>((resolve) => socket.io.engine.once("upgrade", () => resolve()))
      : Promise.resolve();
  upgraded.catch(() => undefined); // awaited by connectClient only
  return { socket, log, mode, upgraded };
}

/**
 * Opens `nsp` on a Manager of its own whose options carry the query: the
 * query then goes with the engine handshake only, not with the namespace's
 * CONNECT (2.x sends a socket's own query there, and this one has none).
 */
export function createManagerClient(url: string, nsp: string, query: Record<string, string>): Client {
  const manager = new io.Manager(url, { reconnection: false, timeout: WAIT_MS, transports: ["websocket"], query });
  const socket = manager.socket(nsp);
  open.add(socket);
  return { socket, log: new V2Log(socket, `${nsp} (shared Manager)`), mode: "websocket", upgraded: Promise.resolve() };
}

/** Creates a client, waits for its "connect" and, in "upgrade" mode, for the upgrade to websocket. */
export async function connectClient(url: string, opts: ClientOptions = {}): Promise<Client> {
  const c = createClient(url, opts);
  await c.log.nextArgs("connect");
  assert.ok(c.socket.connected, "socket connected");
  await within(c.upgraded, WAIT_MS, "transport upgrade");
  assert.equal(c.socket.io.engine.transport.name, c.mode === "polling" ? "polling" : "websocket");
  return c;
}

/** Emits `event` with an ack and resolves with the ack's arguments, bounded. */
export function ask(socket: V2Socket, event: string, ...args: unknown[]): Promise<unknown[]> {
  return within(
    new Promise<unknown[]>((resolve) => socket.emit(event, ...args, (...res: unknown[]) => resolve(res))),
    WAIT_MS,
    `ack of "${event}"`,
  );
}

/** Closes every client created in a test after it ends (call once per file). */
export function useClientCleanup(): void {
  afterEach(() => {
    for (const s of [...open]) {
      open.delete(s);
      s.close();
      s.io.engine.close();
    }
  });
}
