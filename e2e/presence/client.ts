// Client-side helpers for the /presence and SSE suites: typed /presence
// sockets on the real npm socket.io-client (polling or websocket) over the
// shared event log (e2e/support), and a server-sent events client on Node's
// fetch stream. Nothing here sleeps to synchronise: every wait resolves on an
// event, an ack or a stream chunk, and fails after a bounded timeout.

import assert from "node:assert/strict";
import { afterEach } from "node:test";
import { io, type Socket } from "socket.io-client";
import type {
  PresenceClientToServerEvents,
  PresenceServerToClientEvents,
  PresenceState,
  Result,
} from "../../client-js/src/generated/events.ts";
import { WAIT_MS, within } from "../support/within.ts";
import { EventLog } from "../support/log.ts";
import { suiteClientOptions } from "../ha/lb.ts";
import type { Parley } from "../support/parley.ts";

export { NEGATIVE_MS, WAIT_MS, within, negativeWindow } from "../chat/client.ts";

export type PresenceSocket = Socket<PresenceServerToClientEvents, PresenceClientToServerEvents>;

/** The transports the suites run over (upgrade is the chat suite's business). */
export type Mode = "polling" | "websocket";
export const MODES: readonly Mode[] = ["polling", "websocket"];

let seq = 0;
/** A user id unique in this process, and its dev-mode handshake auth. */
export function newUser(name: string): { userId: string; name: string } {
  return { userId: `${name.toLowerCase()}-${process.pid}-${++seq}`, name };
}

/** A room name unique in this process; never shaped like a socket id (see e2e/chat's uniqueRoom). */
export function uniqueRoom(label: string): string {
  return `${label}:${process.pid}-${++seq}`;
}

/** The event log of a /presence socket, with waits for one user's status. */
export class Log extends EventLog<PresenceServerToClientEvents> {
  /** The next status event about userId, with its arrival time. */
  async nextStatus(userId: string, ms: number = WAIT_MS): Promise<PresenceState & { at: number }> {
    const e = await this.nextEntry(
      (e) => e.event === "status" && (e.args[0] as PresenceState).userId === userId,
      `status of ${userId}`,
      ms,
    );
    return { ...(e.args[0] as PresenceState), at: e.at };
  }

  /** Status payloads received so far about userId (consumed or not). */
  statuses(userId?: string): PresenceState[] {
    return this.all("status").filter((s) => userId === undefined || s.userId === userId);
  }
}

export interface PresenceClient {
  readonly socket: PresenceSocket;
  readonly log: Log;
  readonly userId: string;
}

/** What closeSocket needs of a socket of any namespace. */
interface Closable {
  disconnect(): unknown;
  io: { engine?: { close(): unknown } };
}

const open = new Set<Closable>();

/** Closes every socket created in a test after it ends (call once per file). */
export function useCleanup(): void {
  afterEach(() => {
    for (const s of [...open]) closeSocket(s);
  });
}

export function closeSocket(s: Closable): void {
  open.delete(s);
  s.disconnect();
  s.io.engine?.close();
}

/**
 * Connects a /presence socket (its own engine) and waits for its
 * userConnected; rejects with the connect_error when refused.
 */
export async function connectPresence(
  server: Parley,
  opts: { mode: Mode; user: { userId: string; name: string } | Record<string, unknown> },
): Promise<PresenceClient> {
  const socket: PresenceSocket = io(`${server.url}/presence`, {
    forceNew: true,
    reconnection: false,
    timeout: WAIT_MS,
    transports: [opts.mode],
    auth: opts.user,
    ...suiteClientOptions(), // the balancer's cookie, in a cluster run
  });
  open.add(socket);
  const log = new Log(socket);
  const first = await log.nextEntry((e) => e.event === "userConnected" || e.event === "connect_error", "userConnected");
  if (first.event === "connect_error") throw first.args[0];
  assert.equal(socket.io.engine.transport.name, opts.mode);
  return { socket, log, userId: first.args[0] as string };
}

/** Emits a /presence event with its ack, bounded; resolves with the Result. */
export function call<E extends keyof PresenceClientToServerEvents>(
  c: PresenceClient,
  ev: E,
  req: Parameters<PresenceClientToServerEvents[E]>[0],
): Promise<Parameters<Parameters<PresenceClientToServerEvents[E]>[1]>[0]> {
  // The contract's ack takes one argument; timeout() would add an error-first one.
  return (c.socket as unknown as Socket).timeout(WAIT_MS).emitWithAck(ev, req);
}

/** call, asserting success; resolves with the data. */
export async function ok<E extends keyof PresenceClientToServerEvents>(
  c: PresenceClient,
  ev: E,
  req: Parameters<PresenceClientToServerEvents[E]>[0],
): Promise<Extract<Parameters<Parameters<PresenceClientToServerEvents[E]>[1]>[0], { ok: true }>["data"]> {
  const res = (await call(c, ev, req)) as Result<unknown>;
  if (!res.ok) assert.fail(`${ev} ${JSON.stringify(req)} failed: ${JSON.stringify(res)}`);
  return res.data as never;
}

/** One server-sent event, as an EventSource would dispatch it. */
export interface SSEEvent {
  event: string;
  id?: string;
  data: string;
  retry?: number;
}

/**
 * A server-sent events client on Node's fetch stream. It parses the stream
 * as the HTML EventSource algorithm does (event, id, data, retry fields; a
 * blank line dispatches; ":" lines are comments) and keeps the last event id
 * as an EventSource would, so a test can reconnect with it.
 */
export class SSEClient {
  readonly events: SSEEvent[] = [];
  readonly comments: string[] = [];
  lastEventId = "";
  retry: number | undefined;
  /** Resolves when the stream ended (server closed, or close()). */
  readonly ended: Promise<void>;
  private taken = 0;
  private wake: (() => void) | undefined;
  private ctrl: AbortController;

  private constructor(
    readonly res: Response,
    ctrl: AbortController,
  ) {
    this.ctrl = ctrl;
    this.ended = this.read();
  }

  /** GETs url (with headers) and returns the client, or throws with the status and body when it is not 200. */
  static async open(url: string, headers: Record<string, string> = {}): Promise<SSEClient> {
    const ctrl = new AbortController();
    const res = await within(fetch(url, { headers: { Accept: "text/event-stream", ...headers }, signal: ctrl.signal }), WAIT_MS, `GET ${url}`);
    if (res.status !== 200) {
      const body = await res.text();
      throw Object.assign(new Error(`GET ${url}: ${res.status} ${body}`), { status: res.status, body });
    }
    const c = new SSEClient(res, ctrl);
    sseOpen.add(c);
    return c;
  }

  private async read(): Promise<void> {
    const decoder = new TextDecoder();
    let buf = "";
    let ev: SSEEvent = { event: "message", data: "" };
    let hasData = false;
    try {
      for await (const chunk of this.res.body as unknown as AsyncIterable<Uint8Array>) {
        buf += decoder.decode(chunk, { stream: true });
        let nl: number;
        while ((nl = buf.indexOf("\n")) >= 0) {
          const line = buf.slice(0, nl).replace(/\r$/, "");
          buf = buf.slice(nl + 1);
          if (line === "") {
            if (hasData) {
              this.events.push(ev);
              if (ev.id !== undefined) this.lastEventId = ev.id;
            }
            ev = { event: "message", data: "" };
            hasData = false;
            this.wake?.();
            continue;
          }
          if (line.startsWith(":")) {
            this.comments.push(line.slice(1).trim());
            this.wake?.();
            continue;
          }
          const i = line.indexOf(":");
          const field = i < 0 ? line : line.slice(0, i);
          const value = i < 0 ? "" : line.slice(i + 1).replace(/^ /, "");
          if (field === "event") ev.event = value;
          else if (field === "data") {
            ev.data = hasData ? `${ev.data}\n${value}` : value;
            hasData = true;
          } else if (field === "id") ev.id = value;
          else if (field === "retry") this.retry = Number(value);
        }
      }
    } catch {
      // aborted by close(), or the connection dropped: the stream ended
    } finally {
      this.wake?.();
    }
  }

  private done = false;

  /** Resolves with the next event not yet returned, skipping any whose name is not in `names` (when given). */
  async next(names?: string[], ms: number = WAIT_MS): Promise<SSEEvent> {
    const deadline = Date.now() + ms;
    let ended = false;
    void this.ended.then(() => (ended = true));
    for (;;) {
      while (this.taken < this.events.length) {
        const e = this.events[this.taken++]!;
        if (!names || names.includes(e.event)) return e;
      }
      if (ended || this.done) throw new Error(`SSE stream ended while waiting for ${names?.join("|") ?? "an event"}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${ms} ms waiting for SSE ${names?.join("|") ?? "event"}`);
      await within(
        new Promise<void>((resolve) => (this.wake = resolve)),
        left,
        `SSE ${names?.join("|") ?? "event"}`,
      ).finally(() => (this.wake = undefined));
    }
  }

  /** Resolves when a comment line arrives (or has arrived) after `after` comments. */
  async comment(after: number, ms: number = WAIT_MS): Promise<string> {
    const deadline = Date.now() + ms;
    while (this.comments.length <= after) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error("timed out waiting for an SSE comment");
      await within(new Promise<void>((resolve) => (this.wake = resolve)), left, "SSE comment").finally(() => (this.wake = undefined));
    }
    return this.comments[after]!;
  }

  /** Drops the connection (as a client going away mid-stream). */
  close(): void {
    this.done = true;
    sseOpen.delete(this);
    this.ctrl.abort();
  }
}

const sseOpen = new Set<SSEClient>();

/** Closes every SSE client after each test. */
export function useSSECleanup(): void {
  afterEach(() => {
    for (const c of [...sseOpen]) c.close();
  });
}
