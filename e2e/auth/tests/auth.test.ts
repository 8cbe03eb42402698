// JWT authentication and room authorization with the real npm
// socket.io-client (polling and websocket) and an SSE client, against
// `parley --jwt-secret … --jwt-audience …`: every rejection path of the
// handshake, token refresh before and after expiry, private rooms, and
// identities that payloads cannot forge.

import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import { API_KEY } from "../../support/parley.ts";
import { useParley } from "../../support/hooks.ts";
import { SSEClient, useSSECleanup } from "../../presence/client.ts";
import { MODES, call, closeAll, connect, disconnected, outcome, socketFor, connected, type ConnectError } from "../client.ts";
import { SECRET, inSeconds, sign, unsigned } from "../jwt.ts";
import { MAX_ROOM_NAME_CHARS } from "../../../client-js/src/generated/events.ts";

const AUD = "parley-e2e";
const server = useParley({ args: ["--jwt-secret", SECRET, "--jwt-audience", AUD, "--private-rooms", "staff-*"] });
afterEach(closeAll);
useSSECleanup();

let seq = 0;
// The ":" keeps a room name from being shaped like a socket id, which the server refuses.
function uid(name: string): string {
  return `${name}:${process.pid}-${++seq}`;
}

/** A valid token for a fresh user. */
function tokenFor(sub: string, extra: Record<string, unknown> = {}): string {
  return sign({ sub, name: sub, aud: AUD, ...extra });
}

/** The handshake rejections: what the auth holds, and the reason the server gives. */
const REJECTIONS: [string, Record<string, unknown>, string][] = [
  ["no token", {}, "missing token"],
  ["only a claimed dev identity", { userId: "root", name: "Root" }, "missing token"],
  ["garbage", { token: "garbage" }, "malformed token"],
  ["three garbage parts", { token: "a.b.c" }, "malformed token"],
  ["a wrong signature", { token: sign({ sub: "mallory", aud: AUD }, "not-the-secret-not-the-secret-xxxx") }, "bad signature"],
  ["alg none", { token: unsigned({ sub: "mallory", aud: AUD }) }, 'signing algorithm "none" is not accepted'],
  ["an expired token", { token: sign({ sub: "mallory", aud: AUD, exp: inSeconds(-60) }) }, "token expired"],
  ["no exp", { token: sign({ sub: "mallory", aud: AUD, exp: null }) }, "missing exp claim"],
  ["no sub", { token: sign({ aud: AUD }) }, "missing sub claim"],
  ["a wrong audience", { token: sign({ sub: "mallory", aud: "someone-else" }) }, "wrong audience"],
  ["no audience", { token: sign({ sub: "mallory" }) }, "wrong audience"],
];

/** Connects with auth and checks the refusal: connect_error unauthorized with the reason, nothing secret echoed. */
async function assertRefused(nsp: "/chat" | "/presence", mode: (typeof MODES)[number], auth: Record<string, unknown>, reason: string): Promise<void> {
  const err = (await connect(server(), nsp, mode, auth).then(
    () => assert.fail("connected"),
    (e: unknown) => e,
  )) as ConnectError;
  assert.equal(err.message, "unauthorized");
  assert.deepEqual(err.data, { code: "unauthorized", reason });
  const token = auth.token;
  if (typeof token === "string" && token.length > 0) assert.ok(!JSON.stringify(err.data).includes(token), "the token is not echoed");
  assert.ok(!JSON.stringify(err.data).includes(SECRET), "the secret is not echoed");
}

// Verification does not depend on the transport or the namespace (one
// middleware serves both), so the table runs once; the matrix below proves
// the path on each namespace and transport.
describe(`handshake token: the table of ${REJECTIONS.length} rejections [/chat, websocket]`, () => {
  for (const [what, auth, reason] of REJECTIONS) {
    it(`refuses ${what}: connect_error unauthorized, reason "${reason}"`, () => assertRefused("/chat", "websocket", auth, reason));
  }
});

for (const mode of MODES) {
  describe(`handshake token [${mode}]`, () => {
    it("transport matrix: /chat and /presence refuse a missing token, a bad signature and an expired token", async () => {
      for (const nsp of ["/chat", "/presence"] as const) {
        for (const what of ["no token", "a wrong signature", "an expired token"]) {
          const c = REJECTIONS.find(([w]) => w === what);
          assert.ok(c, `no case "${what}"`);
          await assertRefused(nsp, mode, c[1], c[2]);
        }
      }
    });

    it("accepts a valid token on both namespaces; the identity is the token's, never the payload's", async () => {
      const alice = uid("alice");
      const room = uid("room");
      const chat = await connect(server(), "/chat", mode, { token: tokenFor(alice, { name: "Alice" }), userId: "root", name: "Root" });
      const joined = await call(chat, "joinRoom", { room });
      assert.ok(joined.ok);
      assert.deepEqual((joined.data as { members: unknown }).members, [{ id: alice, name: "Alice" }]);
      // A sender in the payload is refused, not believed.
      assert.equal(await outcome(chat, "chatMessage", { room, content: "x", sender: { id: "bob", name: "Bob" } }), "bad_request");
      const sent = await call(chat, "chatMessage", { room, content: "hi" });
      assert.ok(sent.ok);
      assert.deepEqual((sent.data as { sender: unknown }).sender, { id: alice, name: "Alice" });
      const presence = socketFor(server(), "/presence", mode, { token: tokenFor(alice) });
      const me = new Promise<string>((resolve) => presence.once("userConnected", resolve));
      await connected(presence);
      assert.equal(await me, alice);
    });
  });

  describe(`token expiry and refresh [${mode}]`, () => {
    it("disconnects a socket when its token expires, unless it sent a newer token first", async () => {
      const alice = uid("alice");
      // exp has a resolution of seconds: this token expires in 1 to 2 s.
      const exp = inSeconds(2);
      const short = sign({ sub: alice, aud: AUD, exp });
      const kept = await connect(server(), "/chat", mode, { token: short });
      const dropped = await connect(server(), "/presence", mode, { token: short });
      const droppedReason = disconnected(dropped, 5000);

      const later = inSeconds(3600);
      const refreshed = await call(kept, "refreshToken", { token: sign({ sub: alice, aud: AUD, exp: later }) });
      assert.deepEqual(refreshed, { ok: true, data: { exp: later } });

      // Without a refresh: disconnected by the server when exp passes.
      assert.equal(await droppedReason, "io server disconnect");
      assert.ok(Date.now() >= exp * 1000, "not before the token expired");
      // The refreshed socket outlived its first token.
      assert.equal(kept.connected, true);
      assert.equal(await outcome(kept, "joinRoom", { room: uid("room") }), "ok");
      // After expiry the old token no longer connects; a new one does.
      const err = (await connect(server(), "/presence", mode, { token: short }).catch((e: unknown) => e)) as ConnectError;
      assert.deepEqual(err.data, { code: "unauthorized", reason: "token expired" });
      await connect(server(), "/presence", mode, { token: tokenFor(alice) });
    });

    it("refuses a refresh with an expired token, another user's, an older one, or garbage", async () => {
      const alice = uid("alice");
      const current = inSeconds(600);
      const cases: [string, string][] = [
        [sign({ sub: alice, aud: AUD, exp: inSeconds(-5) }), "unauthorized"],
        [tokenFor(uid("bob")), "forbidden"],
        [sign({ sub: alice, aud: AUD, exp: current }), "bad_request"],
        ["garbage", "unauthorized"],
        [sign({ sub: alice, aud: "other" }), "unauthorized"],
      ];
      for (const [token, code] of cases) {
        // One socket each: refreshToken is rate limited (1/s, burst 3).
        const s = await connect(server(), "/chat", mode, { token: sign({ sub: alice, aud: AUD, exp: current }) });
        assert.equal(await outcome(s, "refreshToken", { token }), code);
      }
    });
  });

  describe(`private rooms [${mode}]`, () => {
    it("needs a rooms claim to join, post, read, watch or stream a private room; public rooms need only a token", async () => {
      const team = `private:${uid("team")}`.slice(0, MAX_ROOM_NAME_CHARS);
      const staff = `staff-${uid("ops")}`;
      const lobby = uid("lobby");
      const member = tokenFor(uid("alice"), { rooms: [team, "staff-*"] });
      const outsider = tokenFor(uid("bob"));
      const a = await connect(server(), "/chat", mode, { token: member });
      const b = await connect(server(), "/chat", mode, { token: outsider });
      for (const room of [team, staff, lobby]) assert.equal(await outcome(a, "joinRoom", { room }), "ok", room);
      for (const room of [team, staff]) {
        assert.equal(await outcome(b, "joinRoom", { room }), "forbidden", room);
        assert.equal(await outcome(b, "chatMessage", { room, content: "let me in" }), "forbidden");
        assert.equal(await outcome(b, "fetchHistory", { room }), "forbidden");
      }
      assert.equal(await outcome(b, "joinRoom", { room: lobby }), "ok");
      assert.equal(await outcome(a, "joinRoom", { room: "private:elsewhere" }), "forbidden");

      const bp = await connect(server(), "/presence", mode, { token: outsider });
      assert.equal(await outcome(bp, "subscribe", { rooms: [team] }), "forbidden");
      const ap = await connect(server(), "/presence", mode, { token: member });
      assert.equal(await outcome(ap, "subscribe", { rooms: [team] }), "ok");

      // The SSE room feed applies the same rule; the token goes in
      // Authorization or ?token=.
      const url = (room: string, q = ""): string => `${server().url}/sse/rooms/${encodeURIComponent(room)}${q}`;
      const status = (p: Promise<SSEClient>): Promise<number> =>
        p.then(
          (c) => (c.close(), 200),
          (e: { status: number }) => e.status,
        );
      assert.equal(await status(SSEClient.open(url(team))), 401);
      assert.equal(await status(SSEClient.open(url(team), { Authorization: "Bearer garbage" })), 401);
      assert.equal(await status(SSEClient.open(url(team), { Authorization: `Bearer ${outsider}` })), 403);
      assert.equal(await status(SSEClient.open(url(team, `?token=${outsider}`))), 403);
      assert.equal(await status(SSEClient.open(url(lobby, `?token=${outsider}`))), 200);
      const stream = await SSEClient.open(url(team), { Authorization: `Bearer ${member}` });
      const sent = await call(a, "chatMessage", { room: team, content: "for the team" });
      assert.ok(sent.ok);
      const ev = await stream.next(["newChatMessage"]);
      assert.equal(ev.id, (sent.data as { id: string }).id);
      assert.equal(await status(SSEClient.open(`${server().url}/sse/presence?rooms=${encodeURIComponent(team)}&token=${outsider}`)), 403);
    });
  });
}

describe("HTTP API and dev endpoint with a key configured", () => {
  it("the publish API takes only the API key, never a user token", async () => {
    const url = `${server().url}/api/rooms/${uid("r")}/messages`;
    const asUser = await fetch(url, { headers: { Authorization: `Bearer ${tokenFor(uid("alice"))}` } });
    assert.equal(asUser.status, 401);
    const asKey = await fetch(url, { headers: { Authorization: `Bearer ${API_KEY}` } });
    assert.equal(asKey.status, 200);
  });

  it("serves no dev token endpoint", async () => {
    const res = await fetch(`${server().url}/api/dev/token?name=alice`);
    assert.equal(res.status, 404);
    assert.ok(!server().output().includes("DEV MODE"), "no dev-mode warning with a key");
  });

  it("a token signed for another audience cannot stream either", async () => {
    const res = await fetch(`${server().url}/sse/rooms/${uid("r")}`, { headers: { Authorization: `Bearer ${sign({ sub: "x", aud: "other" })}` } });
    assert.equal(res.status, 401);
    assert.deepEqual(await res.json(), { error: { code: "unauthorized", reason: "wrong audience" } });
  });
});
