// The event log every TypeScript suite records a socket.io-client socket
// with: every event in arrival order from the moment the socket is created,
// so events the server emits right after the CONNECT (in the same payload)
// are never missed; reserved events (connect, disconnect, connect_error)
// are recorded too. A wait consumes the first unconsumed matching entry, or
// the next one to arrive, within a bound.

import type { Socket } from "socket.io-client";
import { WAIT_MS, within } from "./within.ts";

export interface Entry {
  readonly event: string;
  readonly args: unknown[];
  /** Arrival time (Date.now()). */
  readonly at: number;
  consumed: boolean;
}

interface Waiter {
  match: (e: Entry) => boolean;
  resolve: (e: Entry) => void;
}

type Listener = (...args: never[]) => void;
type Reserved = "connect" | "disconnect" | "connect_error";

/**
 * Records every event of a socket whose server-to-client events are `L`
 * (a socket.io event map); `next` and `all` return payloads (first
 * arguments) typed by `L`, `nextArgs` and `allArgs` every argument.
 */
export class EventLog<L extends { [E in keyof L]: Listener } = Record<string, (payload: unknown, ...rest: unknown[]) => void>> {
  readonly entries: Entry[] = [];
  #waiters: Waiter[] = [];
  readonly #socket: Socket;
  readonly #label: string;

  /** `label` names the socket in timeout messages. */
  constructor(socket: Socket<never, never> | Socket, label = "client") {
    const s = socket as Socket;
    this.#socket = s;
    this.#label = label;
    s.onAny((event: string, ...args: unknown[]) => this.#push(event, args));
    s.on("connect", () => this.#push("connect", []));
    s.on("disconnect", (reason, description) => this.#push("disconnect", [reason, description]));
    s.on("connect_error", (err) => this.#push("connect_error", [err]));
  }

  #push(event: string, args: unknown[]): void {
    const e: Entry = { event, args, at: Date.now(), consumed: false };
    this.entries.push(e);
    const i = this.#waiters.findIndex((w) => w.match(e));
    if (i >= 0) {
      const [w] = this.#waiters.splice(i, 1);
      e.consumed = true;
      w!.resolve(e);
    }
  }

  /** The first unconsumed entry that matches, waiting for it if needed. */
  nextEntry(match: (e: Entry) => boolean, what: string, ms: number = WAIT_MS): Promise<Entry> {
    const found = this.entries.find((e) => !e.consumed && match(e));
    if (found) {
      found.consumed = true;
      return Promise.resolve(found);
    }
    let waiter: Waiter | undefined;
    const p = new Promise<Entry>((resolve) => {
      waiter = { match, resolve };
      this.#waiters.push(waiter);
    });
    return within(p, ms, `${what} at ${this.#label}`).catch((err: unknown) => {
      this.#waiters = this.#waiters.filter((w) => w !== waiter);
      throw new Error(`${(err as Error).message}; ${this.#state()}`);
    });
  }

  /** The socket's state and its last disconnect, for failure messages. */
  #state(): string {
    const last = this.entries.filter((e) => e.event === "disconnect").at(-1);
    const why = last ? `, last disconnect: ${String(last.args[0])}` : "";
    return `socket ${this.#socket.connected ? "connected" : "not connected"}${why}; received: ${this.names().join(",")}`;
  }

  /** Resolves with the arguments of the first unconsumed `event`, waiting for it if needed. */
  async nextArgs(event: (keyof L & string) | Reserved | string, ms: number = WAIT_MS): Promise<unknown[]> {
    return (await this.nextEntry((e) => e.event === event, `event "${event}"`, ms)).args;
  }

  /** Resolves with the payload of the first unconsumed `event`. */
  async next<E extends keyof L & string>(event: E, ms: number = WAIT_MS): Promise<Parameters<L[E]>[0]> {
    return (await this.nextArgs(event, ms))[0] as Parameters<L[E]>[0];
  }

  /** Names of all events received so far, in order. */
  names(): string[] {
    return this.entries.map((e) => e.event);
  }

  /** The arguments of every `event` received so far, consumed or not. */
  allArgs(event: string): unknown[][] {
    return this.entries.filter((e) => e.event === event).map((e) => e.args);
  }

  /** The payloads of every `event` received so far, consumed or not. */
  all<E extends keyof L & string>(event: E): Parameters<L[E]>[0][] {
    return this.allArgs(event).map((a) => a[0] as Parameters<L[E]>[0]);
  }

  count(event: string): number {
    return this.entries.filter((e) => e.event === event).length;
  }

  /** Unconsumed entries of `event` (what a later `next` would return). */
  pending(event: string): number {
    return this.entries.filter((e) => e.event === event && !e.consumed).length;
  }
}
