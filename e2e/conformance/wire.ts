// Raw Engine.IO v4 clients for the conformance suite, on either engine of
// the profile (/engine.io/ or /socket.io/): HTTP long-polling over fetch and
// WebSocket over `ws`. e2e/protocol/raw.ts's clients are bound to
// /socket.io/ and always send a well-formed query, so only its HTTP and
// payload helpers are reused here. Every wait is bounded (WAIT_MS).

import assert from "node:assert/strict";
import { request } from "node:http";
import WebSocket, { type RawData } from "ws";
import { http, packets, parseOpen, type Handshake, type HttpResult } from "../protocol/raw.ts";
import { WAIT_MS, within } from "../protocol/util.ts";
import { PROFILE } from "./server.ts";

export type EnginePath = "/engine.io/" | "/socket.io/";

/** http://host:port/engine.io/?<query> (the query as written, so tests can send malformed ones). */
export function engineUrl(base: string, path: EnginePath, query: string): string {
  return `${base}${path}?${query}`;
}

export function wsUrl(base: string, path: EnginePath, query: string): string {
  return engineUrl(base.replace(/^http/, "ws"), path, query);
}

const HANDSHAKE_KEYS = ["maxPayload", "pingInterval", "pingTimeout", "sid", "upgrades"];

/** Asserts an open packet carries exactly the profile's handshake. */
export function assertOpenPacket(pkt: string, upgrades: string[]): Handshake {
  assert.ok(pkt.startsWith("0"), `expected an open packet, got ${JSON.stringify(pkt)}`);
  const hs = JSON.parse(pkt.slice(1)) as Record<string, unknown>;
  assert.deepEqual(Object.keys(hs).sort(), HANDSHAKE_KEYS);
  assert.equal(typeof hs.sid, "string");
  assert.ok((hs.sid as string).length > 0, "sid is not empty");
  assert.deepEqual(hs.upgrades, upgrades);
  assert.equal(hs.pingInterval, PROFILE.pingInterval);
  assert.equal(hs.pingTimeout, PROFILE.pingTimeout);
  assert.equal(hs.maxPayload, PROFILE.maxPayload);
  return parseOpen(pkt);
}

/** Asserts a 400 whose body is Engine.IO's JSON error. */
export function assertEngineError(res: HttpResult, code: number, message: string): void {
  assert.equal(res.status, 400, `status (body ${res.body})`);
  assert.deepEqual(JSON.parse(res.body) as unknown, { code, message });
}

export function assertSessionUnknown(res: HttpResult): void {
  assertEngineError(res, 1, "Session ID unknown");
}

/** One Engine.IO session on HTTP long-polling. */
export class Polling {
  private constructor(
    readonly base: string,
    readonly path: EnginePath,
    readonly handshake: Handshake,
  ) {}

  get sid(): string {
    return this.handshake.sid;
  }

  /** Opens a session (GET without sid) and checks that the answer is one open packet. */
  static async open(base: string, path: EnginePath): Promise<Polling> {
    const res = await http(engineUrl(base, path, "EIO=4&transport=polling"));
    assert.equal(res.status, 200, `handshake status (body ${res.body})`);
    const [open, ...rest] = packets(res.body);
    assert.deepEqual(rest, [], "the handshake response holds one packet");
    return new Polling(base, path, assertOpenPacket(open!, ["websocket"]));
  }

  url(): string {
    return engineUrl(this.base, this.path, `EIO=4&transport=polling&sid=${this.sid}`);
  }

  /** One long-poll GET, bounded. */
  get(ms: number = WAIT_MS): Promise<HttpResult> {
    return http(this.url(), {}, ms);
  }

  /**
   * Starts a GET with node:http: `written` resolves once the request has been
   * handed to the kernel (so a request sent afterwards, on another
   * connection, usually reaches the server after it), `result` with the
   * answer. Both bounded.
   */
  startGet(ms: number = WAIT_MS): { written: Promise<void>; result: Promise<HttpResult> } {
    const req = request(this.url(), { signal: AbortSignal.timeout(ms) });
    const written = new Promise<void>((resolve) => req.once("finish", () => resolve()));
    const result = new Promise<HttpResult>((resolve, reject) => {
      req.once("error", reject);
      req.once("response", (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.once("error", reject);
        res.once("end", () => {
          const headers = new Headers();
          for (const [k, v] of Object.entries(res.headers)) if (typeof v === "string") headers.set(k, v);
          resolve({ status: res.statusCode ?? 0, headers, body: Buffer.concat(chunks).toString() });
        });
      });
    });
    req.end();
    return { written: within(written, ms, "GET written"), result };
  }

  /** One POST of a payload (a string, sent as text/plain like the public suite's fetch). */
  post(body: string, ms: number = WAIT_MS): Promise<HttpResult> {
    return http(this.url(), { method: "POST", body }, ms);
  }

  /** POSTs and asserts the server took the payload (200 "ok"). */
  async send(body: string): Promise<void> {
    const res = await this.post(body);
    assert.equal(res.status, 200, `POST status (body ${res.body})`);
    assert.equal(res.body, "ok");
  }

  /**
   * GETs until the server answers 400 (the session is gone), bounded; every
   * earlier answer must be a 200 whose packets satisfy `allowed`. Returns the
   * 400 response.
   */
  async getUntilRejected(allowed: (pkts: string[]) => boolean, ms: number = WAIT_MS): Promise<HttpResult> {
    const deadline = Date.now() + ms;
    const seen: string[] = [];
    while (Date.now() < deadline) {
      const res = await this.get(Math.max(1, deadline - Date.now()));
      if (res.status === 400) return res;
      assert.equal(res.status, 200, `poll status (body ${res.body})`);
      const pkts = packets(res.body);
      seen.push(...pkts);
      assert.ok(allowed(pkts), `unexpected poll answer ${JSON.stringify(res.body)}`);
    }
    throw new Error(`session still open after ${ms} ms; polls returned ${JSON.stringify(seen)}`);
  }
}

/**
 * The public suites' "forcefully closes the session": a GET and a POST of
 * the close packet, started together, on a new session. HTTP does not order
 * the two (they travel on different connections), so the server may see
 * either first; either way the GET must get the noop. Returns the session
 * and both answers.
 */
export async function closeWhilePolling(
  base: string,
  path: EnginePath,
): Promise<{ session: Polling; poll: HttpResult; post: HttpResult }> {
  const session = await Polling.open(base, path);
  const [poll, post] = await Promise.all([session.get(), session.post("1")]);
  return { session, poll, post };
}

export interface WsClose {
  code: number;
  reason: string;
}

export type Frame = string | Buffer;

export interface WsOptions {
  /**
   * Answer every ping ("2") with a pong ("3") as it arrives, and keep pings
   * out of the frame queue: for tests that are not about the heartbeat, so
   * that a slow machine cannot turn them into ping-timeout tests. Default
   * true; heartbeat tests turn it off and see every ping.
   */
  pong?: boolean;
}

const clients = new Set<WsClient>();

/** Terminates every WsClient still open (run after each test). */
export function closeAllWs(): void {
  for (const c of clients) c.terminate();
  clients.clear();
}

/**
 * A raw WebSocket: text frames are queued as strings, binary frames as
 * Buffers, in arrival order. The socket is tracked so that closeAllWs ends
 * it after the test.
 */
export class WsClient {
  readonly ws: WebSocket;
  /** Resolves on the WebSocket open event; rejects on an error before it. */
  readonly opened: Promise<void>;
  /** Resolves with the close code and reason; never rejects. */
  readonly closed: Promise<WsClose>;
  /** Every frame received, pings included, in order. */
  readonly received: Frame[] = [];
  /** Errors the socket reported (a rejected upgrade, an invalid frame, ...). */
  readonly errors: Error[] = [];
  /** See WsOptions.pong; a test may switch it on once its heartbeat part is done. */
  pong: boolean;
  private queue: Frame[] = [];
  private waiter: (() => void) | undefined;
  private isClosed = false;

  private constructor(url: string, opts: WsOptions) {
    this.pong = opts.pong ?? true;
    const ws = new WebSocket(url);
    this.ws = ws;
    clients.add(this);
    this.opened = new Promise((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
    });
    this.opened.catch(() => undefined); // surfaced through `errors` and `closed` when nobody awaits it
    this.closed = new Promise((resolve) => {
      ws.on("close", (code, reason) => {
        this.isClosed = true;
        clients.delete(this);
        resolve({ code, reason: reason.toString() });
        this.waiter?.();
      });
    });
    ws.on("error", (err) => this.errors.push(err));
    ws.on("message", (data: RawData, isBinary: boolean) => {
      const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
      const frame: Frame = isBinary ? buf : buf.toString();
      this.received.push(frame);
      if (frame === "2" && this.pong) {
        ws.send("3");
        return;
      }
      this.queue.push(frame);
      this.waiter?.();
    });
  }

  /** Starts a connection; await `opened` (or a frame, or `closed`) to use it. */
  static connect(url: string, opts: WsOptions = {}): WsClient {
    return new WsClient(url, opts);
  }

  /** Connects a new Engine.IO session and reads its open packet. */
  static async session(
    base: string,
    path: EnginePath,
    opts: WsOptions = {},
  ): Promise<{ ws: WsClient; handshake: Handshake }> {
    const ws = WsClient.connect(wsUrl(base, path, "EIO=4&transport=websocket"), opts);
    await within(ws.opened, WAIT_MS, "websocket open");
    const handshake = assertOpenPacket(await ws.nextText(), []);
    return { ws, handshake };
  }

  get isOpen(): boolean {
    return !this.isClosed && this.ws.readyState === WebSocket.OPEN;
  }

  /** Next queued frame, bounded; fails if the socket closes first. */
  async next(ms: number = WAIT_MS): Promise<Frame> {
    const deadline = Date.now() + ms;
    while (this.queue.length === 0) {
      if (this.isClosed) {
        throw new Error(`websocket closed while waiting for a frame; received ${describeFrames(this.received)}`);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no websocket frame within ${ms} ms; received ${describeFrames(this.received)}`);
      await within(new Promise<void>((resolve) => (this.waiter = resolve)), left, "websocket frame").finally(
        () => (this.waiter = undefined),
      );
    }
    return this.queue.shift()!;
  }

  /** Next queued frame, which must be a text frame. */
  async nextText(ms: number = WAIT_MS): Promise<string> {
    const frame = await this.next(ms);
    assert.equal(typeof frame, "string", `expected a text frame, got binary ${describeFrames([frame])}`);
    return frame as string;
  }

  /** Frames received but not read yet. */
  unread(): Frame[] {
    return [...this.queue];
  }

  /** The next `n` queued frames. */
  async nextFrames(n: number, ms: number = WAIT_MS): Promise<Frame[]> {
    const deadline = Date.now() + ms;
    const frames: Frame[] = [];
    while (frames.length < n) frames.push(await this.next(Math.max(1, deadline - Date.now())));
    return frames;
  }

  /** Waits (bounded) for the socket to close. */
  waitClosed(ms: number = WAIT_MS): Promise<WsClose> {
    return within(this.closed, ms, `websocket close (received ${describeFrames(this.received)})`);
  }

  send(data: string | Uint8Array): void {
    this.ws.send(data);
  }

  terminate(): void {
    this.ws.terminate();
  }
}

function describeFrames(frames: Frame[]): string {
  return JSON.stringify(frames.map((f) => (typeof f === "string" ? f : `<binary ${[...f].join(",")}>`)));
}

/**
 * Opens a WebSocket that must be refused (a bad query): the server sends no
 * Engine.IO packet and no close frame, and the client reports an error.
 * Returns the client's errors.
 */
export async function assertRefused(base: string, path: EnginePath, query: string): Promise<Error[]> {
  const ws = WsClient.connect(wsUrl(base, path, query));
  const close = await ws.waitClosed();
  assert.deepEqual(ws.received, [], `no Engine.IO packet for ?${query}`);
  assert.equal(close.code, 1006, `close code for ?${query}`);
  assert.ok(ws.errors.length > 0, `the client saw an error for ?${query}`);
  return ws.errors;
}

/**
 * Opens a polling session and moves it to a new WebSocket: probe, then the
 * upgrade packet, and returns at once, as the public suites go on right
 * after sending it. The caller confirms the upgrade in its engine's own
 * terms (a message the server answers only over the session's transport).
 */
export async function probeAndUpgrade(base: string, path: EnginePath): Promise<{ polling: Polling; ws: WsClient }> {
  const polling = await Polling.open(base, path);
  const ws = WsClient.connect(wsUrl(base, path, `EIO=4&transport=websocket&sid=${polling.sid}`));
  await within(ws.opened, WAIT_MS, "websocket open");
  ws.send("2probe");
  assert.equal(await ws.nextText(), "3probe");
  ws.send("5");
  return { polling, ws };
}

/**
 * Opens a second WebSocket for a session that is upgraded (or upgrading)
 * already. As from Node, the WebSocket handshake succeeds, no Engine.IO
 * packet comes, and the server closes it with a close frame without a
 * status (1005). The public suites' ws client has no error listener, so a
 * refused handshake would fail them: no error may be reported.
 */
export async function assertSecondWsClosed(base: string, path: EnginePath, sid: string): Promise<void> {
  const second = WsClient.connect(wsUrl(base, path, `EIO=4&transport=websocket&sid=${sid}`));
  await within(second.opened, WAIT_MS, "second websocket open");
  const close = await second.waitClosed();
  assert.deepEqual(second.errors, [], "the second WebSocket reports no error");
  assert.deepEqual(second.received, [], "the second WebSocket gets no packet");
  assert.equal(close.code, 1005, "closed by a close frame without a status");
}
