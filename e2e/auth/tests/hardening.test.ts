// Hardening of the Engine.IO endpoint, against the real binary, through plain
// HTTP, the `ws` package and the real socket.io-client: the allowed origins
// (--cors-origins, or localhost in dev mode) apply to WebSocket upgrades and
// polling handshakes too, --max-sessions caps the sessions with a 503 that
// leaves the open ones serving, and --handshake-rate limits handshakes per
// address.

import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import WebSocket from "ws";
import { useParley } from "../../support/hooks.ts";
import type { Parley } from "../../support/parley.ts";
import { WAIT_MS, within } from "../../support/within.ts";
import { closeAll, connect, outcome, socketFor, type ConnectError } from "../client.ts";
import { SECRET, sign } from "../jwt.ts";

afterEach(closeAll);

const POLLING = "/socket.io/?EIO=4&transport=polling";
const WEBSOCKET = "/socket.io/?EIO=4&transport=websocket";

const sockets = new Set<WebSocket>();
afterEach(() => {
  for (const ws of sockets) ws.terminate();
  sockets.clear();
});

/**
 * Opens a raw WebSocket to the engine with an optional Origin and resolves
 * with the first message (the open packet), or with the HTTP status of a
 * refused handshake.
 */
function wsHandshake(
  server: Parley,
  path: string,
  origin?: string,
): Promise<{ open: string } | { status: number; body: string }> {
  const ws = new WebSocket(
    `${server.url.replace(/^http/, "ws")}${path}`,
    origin === undefined ? {} : { headers: { Origin: origin } },
  );
  sockets.add(ws);
  return within(
    new Promise((resolve, reject) => {
      ws.once("message", (data: Buffer) => resolve({ open: data.toString() }));
      ws.once("unexpected-response", (req, res) => {
        let body = "";
        res.on("data", (c: Buffer) => (body += c.toString()));
        res.once("end", () => {
          req.destroy();
          resolve({ status: res.statusCode ?? 0, body });
        });
      });
      ws.once("error", reject);
    }),
    WAIT_MS,
    `websocket handshake with Origin ${origin}`,
  );
}

function pollingHandshake(server: Parley, origin?: string): Promise<Response> {
  return fetch(`${server.url}${POLLING}`, {
    headers: origin === undefined ? {} : { Origin: origin },
    signal: AbortSignal.timeout(WAIT_MS),
  });
}

const FORBIDDEN = { code: 4, message: "Origin not allowed" };

function assertOpen(res: { open: string } | { status: number; body: string }, what: string): void {
  assert.ok("open" in res && res.open.startsWith('0{"sid":'), `${what}: ${JSON.stringify(res)}`);
}

function assertForbidden(res: { open: string } | { status: number; body: string }, what: string): void {
  assert.ok("status" in res, `${what}: opened ${JSON.stringify(res)}`);
  assert.equal(res.status, 403, what);
  assert.deepEqual(JSON.parse(res.body) as unknown, FORBIDDEN, what);
}

describe("WebSocket and polling handshakes check Origin", () => {
  describe("production, --cors-origins https://app.example", () => {
    const server = useParley({
      args: ["--production", "--jwt-secret", SECRET, "--cors-origins", "https://app.example"],
    });

    it("refuses a WebSocket from another origin (or null, or a localhost page) with 403; the listed origin and no Origin open", async () => {
      for (const origin of ["https://evil.example", "null", "http://localhost:3000"]) {
        assertForbidden(await wsHandshake(server(), WEBSOCKET, origin), origin);
      }
      assertOpen(await wsHandshake(server(), WEBSOCKET, "https://app.example"), "listed origin");
      assertOpen(await wsHandshake(server(), WEBSOCKET), "no Origin");
    });

    it("refuses a polling handshake from another origin with 403 and no session", async () => {
      const denied = await pollingHandshake(server(), "https://evil.example");
      assert.equal(denied.status, 403);
      assert.deepEqual(await denied.json(), FORBIDDEN);
      assert.equal(denied.headers.get("access-control-allow-origin"), null);
      const allowed = await pollingHandshake(server(), "https://app.example");
      assert.equal(allowed.status, 200);
      assert.equal(allowed.headers.get("access-control-allow-origin"), "https://app.example");
      assert.match(await allowed.text(), /^0\{"sid":/);
    });

    it("refuses to upgrade a session from another origin; the session goes on, and socket.io-client (no Origin) is unaffected", async () => {
      const res = await pollingHandshake(server());
      const sid = (JSON.parse((await res.text()).slice(1)) as { sid: string }).sid;
      assertForbidden(await wsHandshake(server(), `${WEBSOCKET}&sid=${sid}`, "https://evil.example"), "upgrade");
      const post = await fetch(`${server().url}${POLLING}&sid=${sid}`, {
        method: "POST",
        body: "40",
        signal: AbortSignal.timeout(WAIT_MS),
      });
      assert.equal(post.status, 200);
      for (const mode of ["polling", "websocket"] as const) {
        const s = await connect(server(), "/chat", mode, { token: sign({ sub: "alice" }) });
        assert.equal(await outcome(s, "joinRoom", { room: "lobby" }), "ok", mode);
      }
    });
  });

  describe("dev mode (localhost origins)", () => {
    const server = useParley();

    it("allows localhost pages and the server's own pages, refuses other origins", async () => {
      assertForbidden(await wsHandshake(server(), WEBSOCKET, "https://evil.example"), "evil");
      assertOpen(await wsHandshake(server(), WEBSOCKET, "http://localhost:5173"), "localhost dev server");
      assertOpen(await wsHandshake(server(), WEBSOCKET, server().url), "own origin");
      assert.equal((await pollingHandshake(server(), "https://evil.example")).status, 403);
    });
  });
});

describe("--max-sessions", () => {
  const server = useParley({ args: ["--max-sessions", "3"] });

  it("answers a handshake over the cap with 503 and a JSON error; the open sessions keep serving", async () => {
    const open = [];
    for (const [i, mode] of (["websocket", "polling", "websocket"] as const).entries()) {
      open.push(await connect(server(), "/chat", mode, { userId: `u${i}`, name: `U${i}` }));
    }
    const over = await pollingHandshake(server());
    assert.equal(over.status, 503);
    assert.deepEqual(await over.json(), { code: 100, message: "Too many sessions" });
    const ws = await wsHandshake(server(), WEBSOCKET);
    assert.ok("status" in ws && ws.status === 503, JSON.stringify(ws));
    const err = (await connect(server(), "/chat", "polling", { userId: "late", name: "Late" }).catch(
      (e: unknown) => e,
    )) as ConnectError;
    assert.ok(err instanceof Error, "socket.io-client over the cap fails to connect");

    for (const s of open) assert.equal(await outcome(s, "joinRoom", { room: "lobby" }), "ok");

    // A session that ends frees its place (the server removes it on the
    // client's close; poll until it has, bounded).
    open[0]!.disconnect();
    const deadline = Date.now() + WAIT_MS;
    let status = 0;
    while (Date.now() < deadline && status !== 200) {
      const res = await pollingHandshake(server());
      status = res.status;
      await res.body?.cancel();
    }
    assert.equal(status, 200, "a handshake succeeds once a session has closed");
  });
});

describe("--handshake-rate", () => {
  const server = useParley({ args: ["--handshake-rate", "0.2:2"] });

  it("refuses the handshake over the burst with 429 and Retry-After; the open sessions keep serving", async () => {
    const s = socketFor(server(), "/chat", "websocket", { userId: "a", name: "A" });
    await within(new Promise((resolve) => s.once("connect", () => resolve(undefined))), WAIT_MS, "connect");
    const second = await pollingHandshake(server());
    assert.equal(second.status, 200);
    await second.body?.cancel();
    const third = await pollingHandshake(server());
    assert.equal(third.status, 429);
    assert.equal(third.headers.get("retry-after"), "5");
    assert.deepEqual(await third.json(), { code: 101, message: "Too many handshakes" });
    assert.equal(await outcome(s, "joinRoom", { room: "lobby" }), "ok");
  });
});
