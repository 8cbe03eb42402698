// Dev mode, production mode and CORS, against the real binary: without a key
// the server warns loudly and signs its own tokens at GET /api/dev/token;
// --production (or PARLEY_ENV=production) refuses to start without one, and
// allows no cross-origin caller unless --cors-origins lists it.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { after, afterEach, describe, it } from "node:test";
import { PARLEY_BIN, removeDir, startParley, tempDataDir, type Parley } from "../../support/parley.ts";
import { useParley } from "../../support/hooks.ts";
import { SSEClient, useSSECleanup } from "../../presence/client.ts";
import { closeAll, connect, outcome, type ConnectError } from "../client.ts";
import { SECRET, sign } from "../jwt.ts";

afterEach(closeAll);
useSSECleanup();

/** Runs the binary to its exit (bounded) and returns its code and output. */
function run(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(PARLEY_BIN, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`parley ${args.join(" ")} did not exit:\n${out}`));
    }, 10_000);
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

describe("production mode", () => {
  const dirs: string[] = [];
  after(async () => {
    for (const d of dirs) await removeDir(d);
  });

  it("refuses to start without a secret or key (--production, PARLEY_ENV=production)", async () => {
    for (const [args, env] of [
      [["--production"], {}],
      [[], { PARLEY_ENV: "production" }],
      [["--production", "--cors-origins", "https://app.example"], {}],
    ] as [string[], Record<string, string>][]) {
      const dir = await tempDataDir();
      dirs.push(dir);
      const { code, out } = await run(["--addr", "127.0.0.1:0", "--data-dir", dir, ...args], env);
      assert.notEqual(code, 0, out);
      assert.match(out, /production mode needs JWTSecret or JWTPublicKey/);
    }
  });

  it("refuses a secret shorter than 32 bytes", async () => {
    const dir = await tempDataDir();
    dirs.push(dir);
    const { code, out } = await run(["--addr", "127.0.0.1:0", "--data-dir", dir, "--jwt-secret", "short"]);
    assert.notEqual(code, 0);
    assert.match(out, /at least 32 bytes/);
  });

  describe("with a secret", () => {
    const server = useParley({ args: ["--production", "--jwt-secret", SECRET, "--cors-origins", "https://app.example"] });

    it("starts, with no dev endpoint and no dev handshake", async () => {
      assert.equal((await fetch(`${server().url}/api/dev/token?name=alice`)).status, 404);
      const err = (await connect(server(), "/chat", "websocket", { userId: "alice", name: "Alice" }).catch((e: unknown) => e)) as ConnectError;
      assert.deepEqual(err.data, { code: "unauthorized", reason: "missing token" });
      const s = await connect(server(), "/chat", "polling", { token: sign({ sub: "alice" }) });
      assert.equal(await outcome(s, "joinRoom", { room: "lobby" }), "ok");
    });

    for (const path of ["/socket.io/?EIO=4&transport=polling", "/api/rooms/lobby/messages", "/sse/rooms/lobby"]) {
      it(`CORS preflight on ${path.split("?")[0]}: the listed origin is allowed, others (localhost too) are denied`, async () => {
        const pre = (origin: string): Promise<Response> =>
          fetch(`${server().url}${path}`, {
            method: "OPTIONS",
            headers: { Origin: origin, "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization" },
          });
        const allowed = await pre("https://app.example");
        assert.equal(allowed.status, 204);
        assert.equal(allowed.headers.get("access-control-allow-origin"), "https://app.example");
        assert.equal(allowed.headers.get("access-control-allow-credentials"), "true");
        for (const origin of ["https://evil.example", "http://localhost:3000"]) {
          const denied = await pre(origin);
          assert.equal(denied.headers.get("access-control-allow-origin"), null, origin);
        }
      });
    }
  });
});

describe("dev mode", () => {
  const server = useParley();
  let started: Parley | undefined;
  after(async () => started?.kill());

  it("warns loudly at startup", () => {
    // The harness runs with --log-level warn: the warning is still there.
    assert.match(server().output(), /DEV MODE/);
  });

  it("signs tokens at GET /api/dev/token, which the handshake and SSE accept", async () => {
    const res = await fetch(`${server().url}/api/dev/token?name=${encodeURIComponent("Alice Smith")}&rooms=private:club`);
    assert.equal(res.status, 200);
    const body = (await res.json()) as { token: string; userId: string; name: string; exp: number };
    assert.equal(body.userId, "alice-smith");
    assert.equal(body.name, "Alice Smith");
    assert.ok(body.exp * 1000 > Date.now() + 3600_000);
    const s = await connect(server(), "/chat", "websocket", { token: body.token });
    assert.equal(await outcome(s, "joinRoom", { room: "private:club" }), "ok");
    (await SSEClient.open(`${server().url}/sse/rooms/private:club?token=${body.token}`)).close();
    // Dev handshake identities work too, but have no rooms claim.
    const dev = await connect(server(), "/chat", "polling", { userId: "bob", name: "Bob" });
    assert.equal(await outcome(dev, "joinRoom", { room: "private:club" }), "forbidden");
    // A token signed by anyone else is still refused.
    const err = (await connect(server(), "/chat", "polling", { token: sign({ sub: "mallory" }) }).catch((e: unknown) => e)) as ConnectError;
    assert.deepEqual(err.data, { code: "unauthorized", reason: "bad signature" });
  });

  it("answers localhost origins by default", async () => {
    const res = await fetch(`${server().url}/sse/rooms/lobby`, {
      method: "OPTIONS",
      headers: { Origin: "http://localhost:5173", "Access-Control-Request-Method": "GET" },
    });
    assert.equal(res.headers.get("access-control-allow-origin"), "http://localhost:5173");
  });

  it("a dev token from one process is refused by another (per-process secret)", async () => {
    const res = await fetch(`${server().url}/api/dev/token?name=carol`);
    const { token } = (await res.json()) as { token: string };
    const dir = await tempDataDir();
    started = await startParley({ dataDir: dir });
    const err = (await connect(started, "/presence", "websocket", { token }).catch((e: unknown) => e)) as ConnectError;
    assert.deepEqual(err.data, { code: "unauthorized", reason: "bad signature" });
    await started.kill();
    started = undefined;
    await removeDir(dir);
  });
});
