// Raw Engine.IO v4 clients (HTTP long-polling over fetch, WebSocket over the
// `ws` package) for the tests that must misbehave on purpose or look at the
// wire: handshake JSON, HTTP error bodies, never answering pings, never
// sending a Socket.IO CONNECT, oversize payloads, garbage frames.

import assert from "node:assert/strict";
import type { Socket } from "node:net";
import WebSocket, { type RawData } from "ws";
import { WAIT_MS, within } from "./util.ts";

/** Engine.IO v4 payload separator for HTTP long-polling. */
export const SEP = "\x1e";

export interface Handshake {
  sid: string;
  upgrades: string[];
  pingInterval: number;
  pingTimeout: number;
  maxPayload: number;
}

export interface HttpResult {
  status: number;
  headers: Headers;
  body: string;
}

export function eioUrl(base: string, query: Record<string, string>): string {
  const q = new URLSearchParams(query).toString();
  return `${base}/socket.io/?${q}`;
}

export async function http(url: string, init: RequestInit = {}, ms: number = WAIT_MS): Promise<HttpResult> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(ms) });
  const body = await res.text();
  return { status: res.status, headers: res.headers, body };
}

/** Splits a long-polling payload into its Engine.IO packets. */
export function packets(body: string): string[] {
  return body === "" ? [] : body.split(SEP);
}

export function parseOpen(packet: string): Handshake {
  assert.equal(packet[0], "0", `expected an open packet, got ${JSON.stringify(packet)}`);
  return JSON.parse(packet.slice(1)) as Handshake;
}

/** A raw Engine.IO session on HTTP long-polling. */
export class RawPolling {
  private constructor(
    readonly base: string,
    readonly handshake: Handshake,
  ) {}

  get sid(): string {
    return this.handshake.sid;
  }

  static async open(base: string): Promise<RawPolling> {
    const res = await http(eioUrl(base, { EIO: "4", transport: "polling" }));
    assert.equal(res.status, 200, `handshake status (body ${res.body})`);
    const [open] = packets(res.body);
    return new RawPolling(base, parseOpen(open!));
  }

  url(): string {
    return eioUrl(this.base, { EIO: "4", transport: "polling", sid: this.sid });
  }

  /** One long-poll GET (bounded). */
  get(ms: number = WAIT_MS): Promise<HttpResult> {
    return http(this.url(), {}, ms);
  }

  post(body: string | Uint8Array, ms: number = WAIT_MS): Promise<HttpResult> {
    return http(
      this.url(),
      {
        method: "POST",
        body,
        headers: { "Content-Type": typeof body === "string" ? "text/plain;charset=UTF-8" : "application/octet-stream" },
      },
      ms,
    );
  }

  /** Sends packets in one POST and asserts the server accepted them ("ok"). */
  async send(...pkts: string[]): Promise<void> {
    const res = await this.post(pkts.join(SEP));
    assert.equal(res.status, 200, `POST status (body ${res.body})`);
    assert.equal(res.body, "ok");
  }

  /**
   * Polls (answering pings with pongs) until a packet satisfying `pred`
   * arrives; returns every packet received meanwhile, in order.
   */
  async pollUntil(pred: (pkt: string) => boolean, ms: number = WAIT_MS): Promise<string[]> {
    const deadline = Date.now() + ms;
    const seen: string[] = [];
    while (Date.now() < deadline) {
      const res = await this.get(Math.max(1, deadline - Date.now()));
      assert.equal(res.status, 200, `poll status (body ${res.body})`);
      const got = packets(res.body);
      seen.push(...got);
      if (got.includes("2")) await this.send("3");
      if (got.some(pred)) return seen;
    }
    throw new Error(`polling: condition not met within ${ms} ms; got ${JSON.stringify(seen)}`);
  }

  /** Socket.IO CONNECT to a namespace; resolves with the Socket.IO socket id. */
  async connect(nsp = "/", auth?: unknown): Promise<{ sid: string; received: string[] }> {
    const prefix = nsp === "/" ? "" : `${nsp},`;
    await this.send(`40${prefix}${auth === undefined ? "" : JSON.stringify(auth)}`);
    const received = await this.pollUntil((p) => p.startsWith(`40${prefix}`));
    const ack = received.find((p) => p.startsWith(`40${prefix}`))!;
    const data = JSON.parse(ack.slice(2 + prefix.length)) as { sid: string };
    return { sid: data.sid, received };
  }

  /**
   * CONNECT to "/" and read on until the server's greeting ("auth" then
   * "info", see TESTSERVER.md) has arrived, so the session has nothing queued.
   */
  async connectMain(auth?: unknown): Promise<string> {
    const { sid, received } = await this.connect("/", auth);
    if (!received.some(isInfo)) await this.pollUntil(isInfo);
    return sid;
  }
}

const isInfo = (p: string): boolean => p.startsWith('42["info"');

export interface WsClose {
  code: number;
  reason: string;
}

/** A raw Engine.IO session on WebSocket (no polling first). */
export class RawWs {
  readonly ws: WebSocket;
  readonly closed: Promise<WsClose>;
  private queue: (string | Buffer)[] = [];
  private waiter: (() => void) | undefined;
  private isClosed = false;
  private socket: Socket | undefined;

  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.once("upgrade", (res) => {
      this.socket = res.socket as Socket;
    });
    this.closed = new Promise((resolve) => {
      ws.on("close", (code, reason) => {
        this.isClosed = true;
        resolve({ code, reason: reason.toString() });
        this.waiter?.();
      });
    });
    ws.on("error", () => undefined); // surfaced through `closed`
    ws.on("message", (data: RawData, isBinary: boolean) => {
      const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
      this.queue.push(isBinary ? buf : buf.toString());
      this.waiter?.();
    });
  }

  static async open(base: string, query: Record<string, string> = {}): Promise<RawWs> {
    const url = eioUrl(base.replace(/^http/, "ws"), { EIO: "4", transport: "websocket", ...query });
    const ws = new WebSocket(url);
    const raw = new RawWs(ws);
    await within(
      new Promise<void>((resolve, reject) => {
        ws.once("open", () => resolve());
        ws.once("error", reject);
      }),
      WAIT_MS,
      "websocket open",
    );
    return raw;
  }

  get isOpen(): boolean {
    return !this.isClosed && this.ws.readyState === WebSocket.OPEN;
  }

  /** Next frame (text frames as string, binary frames as Buffer). */
  async next(ms: number = WAIT_MS): Promise<string | Buffer> {
    const deadline = Date.now() + ms;
    while (this.queue.length === 0) {
      if (this.isClosed) throw new Error("websocket closed while waiting for a frame");
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no websocket frame within ${ms} ms`);
      await within(
        new Promise<void>((resolve) => (this.waiter = resolve)),
        left,
        "websocket frame",
      ).finally(() => (this.waiter = undefined));
    }
    return this.queue.shift()!;
  }

  /** Reads text frames until one satisfies `pred`; answers pings unless told not to. */
  async nextMatching(pred: (frame: string) => boolean, opts: { pong?: boolean; ms?: number } = {}): Promise<string> {
    const deadline = Date.now() + (opts.ms ?? WAIT_MS);
    for (;;) {
      const frame = await this.next(Math.max(1, deadline - Date.now()));
      if (typeof frame !== "string") continue;
      if (frame === "2" && opts.pong !== false) this.send("3");
      if (pred(frame)) return frame;
    }
  }

  send(data: string | Buffer): void {
    this.ws.send(data);
  }

  /** Reads the open packet. */
  async handshake(): Promise<Handshake> {
    const first = await this.next();
    assert.equal(typeof first, "string");
    return parseOpen(first as string);
  }

  /** Socket.IO CONNECT to a namespace; resolves with the Socket.IO socket id. */
  async connect(nsp = "/", auth?: unknown, opts: { pong?: boolean } = {}): Promise<string> {
    const prefix = nsp === "/" ? "" : `${nsp},`;
    this.send(`40${prefix}${auth === undefined ? "" : JSON.stringify(auth)}`);
    const ack = await this.nextMatching((f) => f.startsWith(`40${prefix}`), opts);
    return (JSON.parse(ack.slice(2 + prefix.length)) as { sid: string }).sid;
  }

  /** CONNECT to "/" and read on until the server's greeting ("info") has arrived. */
  async connectMain(auth?: unknown): Promise<string> {
    const sid = await this.connect("/", auth);
    await this.nextMatching(isInfo);
    return sid;
  }

  /**
   * Drops the connection without a WebSocket close frame or an Engine.IO
   * close packet: the TCP stream ends with a FIN, which the server reads as
   * end of stream ("transport close"). Destroying the socket at once would
   * send a reset instead whenever a frame from the server (a ping, say) is
   * still unread here, and the server would report "transport error".
   */
  close(): void {
    const socket = this.socket;
    if (socket === undefined || socket.destroyed) {
      this.ws.terminate();
      return;
    }
    socket.end();
    // Cleanup only: the server normally closes its side at once, and then
    // the socket is gone already.
    setTimeout(() => this.ws.terminate(), WAIT_MS).unref();
  }
}
