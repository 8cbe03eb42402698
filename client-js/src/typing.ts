/** Timer functions, injectable so tests drive time by hand. */
export interface Clock {
  now(): number;
  setTimeout(f: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (f, ms) => globalThis.setTimeout(f, ms),
  clearTimeout: (h) => globalThis.clearTimeout(h as ReturnType<typeof globalThis.setTimeout>),
};

export interface TypingOptions {
  /**
   * The least time between two `isTyping: true` for one room, in ms. The
   * server drops a typing state it has not heard about for 5 s, so this must
   * stay below that. Default 2000.
   */
  intervalMs?: number;
  /** Time after the last keystroke at which typing stops by itself, in ms. Default 3000. */
  idleMs?: number;
}

/**
 * TypingThrottle turns keystrokes into few typing events: `keystroke(room)`
 * on every input sends `isTyping: true` at once and then at most once per
 * interval while typing goes on; `stop(room)` (message sent, input cleared,
 * focus lost) or `idleMs` without a keystroke sends one `isTyping: false`.
 * A room where nothing was announced never gets a `false`.
 */
export class TypingThrottle {
  readonly #emit: (room: string, isTyping: boolean) => void;
  readonly #clock: Clock;
  readonly #intervalMs: number;
  readonly #idleMs: number;
  readonly #rooms = new Map<string, { lastSent: number; idle: unknown }>();

  constructor(emit: (room: string, isTyping: boolean) => void, opts: TypingOptions = {}, clock: Clock = systemClock) {
    this.#emit = emit;
    this.#clock = clock;
    this.#intervalMs = opts.intervalMs ?? 2000;
    this.#idleMs = opts.idleMs ?? 3000;
  }

  keystroke(room: string): void {
    const now = this.#clock.now();
    let r = this.#rooms.get(room);
    if (r === undefined) {
      r = { lastSent: now, idle: undefined };
      this.#rooms.set(room, r);
      this.#emit(room, true);
    } else if (now - r.lastSent >= this.#intervalMs) {
      r.lastSent = now;
      this.#emit(room, true);
    }
    this.#clock.clearTimeout(r.idle);
    r.idle = this.#clock.setTimeout(() => this.stop(room), this.#idleMs);
  }

  stop(room: string): void {
    const r = this.#rooms.get(room);
    if (r === undefined) return;
    this.#clock.clearTimeout(r.idle);
    this.#rooms.delete(room);
    this.#emit(room, false);
  }

  /** Forgets a room without sending anything (it was left; the server ends its typing state). */
  forget(room: string): void {
    this.#clock.clearTimeout(this.#rooms.get(room)?.idle);
    this.#rooms.delete(room);
  }

  /** Forgets every room without sending anything (the connection is gone, and the server clears typing itself). */
  reset(): void {
    for (const r of this.#rooms.values()) this.#clock.clearTimeout(r.idle);
    this.#rooms.clear();
  }
}
