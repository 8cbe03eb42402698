// The backend HTTP API: POST /api/rooms/:room/messages stores a message and
// broadcasts it to the room like a client's (201; 200 with the original for a
// repeated clientMsgId), GET pages the history as fetchHistory does. Every
// route needs `Authorization: Bearer <key>` (401), answers 404 when the
// server has no key, 400 on bad input; errors are {error: {code, message}}.
// CORS follows the configured origins (default: localhost ones).

import assert from "node:assert/strict";
import { request as httpRequest } from "node:http";
import { describe, it } from "node:test";
import { API_KEY, type Parley } from "../../support/parley.ts";
import { useParley } from "../../support/hooks.ts";
import { MODES, connectClient, newUser, ok, uniqueRoom, useClientCleanup, uuidV7Millis } from "../client.ts";
import {
  MAX_CONTENT_CHARS,
  MAX_HISTORY_LIMIT,
  MAX_IDENTITY_CHARS,
  MAX_ROOM_NAME_CHARS,
  type ChatMessage,
  type ErrorCode,
  type FetchHistoryResult,
} from "../../../client-js/src/generated/events.ts";

const server = useParley();
useClientCleanup();

const AUTH = { Authorization: `Bearer ${API_KEY}` };
const JSON_AUTH = { ...AUTH, "Content-Type": "application/json" };
const GOOD_ORIGIN = "http://localhost:5173";
const EVIL_ORIGIN = "http://evil.example";

interface Answer {
  status: number;
  headers: Headers;
  body: unknown;
}

async function request(
  srv: Parley,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: string,
): Promise<Answer> {
  const res = await fetch(srv.url + path, {
    method,
    headers,
    ...(body === undefined ? {} : { body }),
    signal: AbortSignal.timeout(5000),
  });
  const text = await res.text();
  let parsed: unknown = text;
  if ((res.headers.get("content-type") ?? "").startsWith("application/json")) parsed = JSON.parse(text);
  return { status: res.status, headers: res.headers, body: parsed };
}

/** An HTTP request whose path is sent exactly as given (no dot-segment removal). */
function rawRequest(
  srv: Parley,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: string,
): Promise<Answer> {
  const url = new URL(srv.url);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        method,
        path,
        headers,
        timeout: 5000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          const type = String(res.headers["content-type"] ?? "");
          resolve({
            status: res.statusCode ?? 0,
            headers: new Headers(Object.entries(res.headers).map(([k, v]) => [k, String(v)])),
            body: type.startsWith("application/json") ? JSON.parse(text) : text,
          });
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error(`${method} ${path}: timed out`)));
    req.on("error", reject);
    req.end(body);
  });
}

function publish(
  srv: Parley,
  room: string,
  body: unknown,
  headers: Record<string, string> = JSON_AUTH,
): Promise<Answer> {
  return request(
    srv,
    "POST",
    `/api/rooms/${room}/messages`,
    headers,
    typeof body === "string" ? body : JSON.stringify(body),
  );
}

function history(srv: Parley, room: string, query = "", headers: Record<string, string> = AUTH): Promise<Answer> {
  return request(srv, "GET", `/api/rooms/${room}/messages${query}`, headers);
}

function assertApiError(a: Answer, status: number, code: ErrorCode, what: string): void {
  assert.equal(a.status, status, `${what}: status (body ${JSON.stringify(a.body)})`);
  const body = a.body as { error?: { code?: unknown; message?: unknown } };
  assert.deepEqual(Object.keys(body ?? {}), ["error"], `${what}: body is {error}: ${JSON.stringify(a.body)}`);
  assert.deepEqual(Object.keys(body.error ?? {}).sort(), ["code", "message"], `${what}: error shape`);
  assert.equal(body.error?.code, code, `${what}: code`);
  assert.ok(typeof body.error?.message === "string" && body.error.message.length > 0, `${what}: message`);
}

const SENDER = { id: "backend-bot", name: "Backend Bot" };

describe("HTTP API: publish", () => {
  for (const mode of MODES) {
    it(`[${mode}] a published message is stored and broadcast to the room; a repeated clientMsgId answers 200 without a second broadcast`, async () => {
      const room = uniqueRoom("api-pub");
      const c = await connectClient(server(), { mode, user: newUser("Reader") });
      await ok(c.socket, "joinRoom", { room });

      // Idempotency keys are per sender across all rooms: one per test.
      const key = `job-${room}`;
      const before = Date.now();
      const created = await publish(server(), room, {
        content: "  from the backend  ",
        sender: SENDER,
        clientMsgId: key,
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.match(created.headers.get("content-type") ?? "", /^application\/json/);
      const msg = created.body as ChatMessage;
      assert.deepEqual(
        { ...msg, id: "", timestamp: 0 },
        { id: "", timestamp: 0, room, sender: SENDER, content: "from the backend", clientMsgId: key },
      );
      uuidV7Millis(msg.id);
      assert.ok(msg.timestamp >= before - 1000 && msg.timestamp <= Date.now() + 1000);
      assert.deepEqual(await c.log.next("newChatMessage"), msg);

      const again = await publish(server(), room, { content: "from the backend", sender: SENDER, clientMsgId: key });
      assert.equal(again.status, 200);
      assert.deepEqual(again.body, msg);

      const next = await publish(server(), room, { content: "next", sender: SENDER });
      assert.equal(next.status, 201);
      assert.deepEqual(await c.log.next("newChatMessage"), next.body, "the duplicate was not broadcast");
      assert.equal(c.log.count("newChatMessage"), 2);

      // The socket sees the same history.
      const h = await ok(c.socket, "fetchHistory", { room });
      assert.deepEqual(h.messages, [msg, next.body]);
    });
  }

  it("a clientMsgId used in one room is a conflict (409) in another, and nothing is stored there", async () => {
    const room = uniqueRoom("api-key-a");
    const other = uniqueRoom("api-key-b");
    const key = `job-${room}`;
    const created = await publish(server(), room, {
      content: "first",
      sender: SENDER,
      clientMsgId: key,
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assertApiError(
      await publish(server(), other, {
        content: "elsewhere",
        sender: SENDER,
        clientMsgId: key,
      }),
      409,
      "conflict",
      "the key of a message in another room",
    );
    const page = await history(server(), other);
    assert.equal(page.status, 200);
    assert.deepEqual((page.body as { messages: unknown[] }).messages, []);
  });

  it("only application/json bodies are taken: anything else is 415 and stores nothing", async () => {
    const room = uniqueRoom("api-ctype");
    const body = JSON.stringify({ content: "typed as text", sender: SENDER });
    for (const type of ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]) {
      const res = await publish(server(), room, body, {
        ...AUTH,
        "Content-Type": type,
      });
      assertApiError(res, 415, "bad_request", `Content-Type ${type}`);
    }
    const ok201 = await publish(server(), room, body, {
      ...AUTH,
      "Content-Type": "application/json; charset=utf-8",
    });
    assert.equal(ok201.status, 201, "application/json with a charset is JSON");
    const page = await history(server(), room);
    assert.deepEqual(
      (page.body as { messages: ChatMessage[] }).messages.map((m) => m.content),
      ["typed as text"],
    );
  });

  it("dot-only room names are refused (400) on the API and on SSE, encoded or not", async () => {
    // fetch() resolves dot segments itself, so the requests go out raw, as a
    // careless client or a proxy would send them.
    for (const room of [".", "..", "%2e%2e", "..."]) {
      const body = JSON.stringify({ content: "x", sender: SENDER });
      assertApiError(
        await rawRequest(server(), "POST", `/api/rooms/${room}/messages`, JSON_AUTH, body),
        400,
        "bad_request",
        `POST room ${room}`,
      );
      assertApiError(
        await rawRequest(server(), "GET", `/api/rooms/${room}/messages`, AUTH),
        400,
        "bad_request",
        `GET room ${room}`,
      );
      assertApiError(
        await rawRequest(server(), "GET", `/sse/rooms/${room}`, {}),
        400,
        "bad_request",
        `SSE room ${room}`,
      );
    }
  });

  it(`characters, not bytes: ${MAX_CONTENT_CHARS} emoji are accepted, ${MAX_CONTENT_CHARS + 1} characters are too_large (413)`, async () => {
    const room = uniqueRoom("api-size");
    const emoji = await publish(server(), room, { content: "😀".repeat(MAX_CONTENT_CHARS), sender: SENDER });
    assert.equal(emoji.status, 201, JSON.stringify(emoji.body).slice(0, 200));
    assert.equal((emoji.body as ChatMessage).content, "😀".repeat(MAX_CONTENT_CHARS));
    assertApiError(
      await publish(server(), room, { content: "x".repeat(MAX_CONTENT_CHARS + 1), sender: SENDER }),
      413,
      "too_large",
      `${MAX_CONTENT_CHARS + 1} characters`,
    );
    assertApiError(
      await publish(server(), room, { content: "x".repeat(70_000), sender: SENDER }),
      413,
      "too_large",
      "body over 64 KiB",
    );
  });

  const BAD: ReadonlyArray<[string, string, unknown]> = [
    ["invalid JSON", "r", "{not json"],
    ["a JSON array", "r", "[]"],
    ["a JSON string", "r", '"hello"'],
    ["unknown field", "r", { content: "x", sender: SENDER, id: "01900000-0000-7000-8000-000000000000" }],
    ["missing sender", "r", { content: "x" }],
    ["empty sender id", "r", { content: "x", sender: { id: "", name: "N" } }],
    ["blank sender name", "r", { content: "x", sender: { id: "i", name: "  " } }],
    [
      `sender name of ${MAX_IDENTITY_CHARS + 1} characters`,
      "r",
      { content: "x", sender: { id: "i", name: "n".repeat(MAX_IDENTITY_CHARS + 1) } },
    ],
    ["sender of wrong type", "r", { content: "x", sender: "bot" }],
    ["missing content", "r", { sender: SENDER }],
    ["empty content", "r", { content: "", sender: SENDER }],
    ["whitespace-only content", "r", { content: " \n\t ", sender: SENDER }],
    ["content of wrong type", "r", { content: 1, sender: SENDER }],
    ["empty clientMsgId", "r", { content: "x", sender: SENDER, clientMsgId: "" }],
    ["room with a space", "two%20words", { content: "x", sender: SENDER }],
    ["room with ä", "%C3%A4", { content: "x", sender: SENDER }],
    [
      `room of ${MAX_ROOM_NAME_CHARS + 1} characters`,
      "r".repeat(MAX_ROOM_NAME_CHARS + 1),
      { content: "x", sender: SENDER },
    ],
  ];
  for (const [what, room, body] of BAD) {
    it(`400 bad_request: ${what}`, async () => {
      assertApiError(await publish(server(), room, body), 400, "bad_request", what);
    });
  }

  it("nothing bad was stored", async () => {
    const res = await history(server(), "r");
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { messages: [], hasMore: false });
  });
});

describe("HTTP API: history", () => {
  it("pages like fetchHistory: latest, before, after, both", async () => {
    const room = uniqueRoom("api-hist");
    const empty = await history(server(), room);
    assert.deepEqual([empty.status, empty.body], [200, { messages: [], hasMore: false }]);

    const posted: ChatMessage[] = [];
    for (let i = 0; i < 7; i++) {
      const res = await publish(server(), room, { content: `m${i}`, sender: SENDER });
      assert.equal(res.status, 201);
      posted.push(res.body as ChatMessage);
    }
    const page = async (query: string): Promise<FetchHistoryResult> => {
      const res = await history(server(), room, query);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      return res.body as FetchHistoryResult;
    };
    assert.deepEqual(await page(""), { messages: posted, hasMore: false });
    assert.deepEqual(await page("?limit=3"), { messages: posted.slice(4), hasMore: true });
    assert.deepEqual(await page(`?limit=3&before=${posted[4]!.id}`), { messages: posted.slice(1, 4), hasMore: true });
    assert.deepEqual(await page(`?limit=3&before=${posted[1]!.id}`), { messages: posted.slice(0, 1), hasMore: false });
    assert.deepEqual(await page(`?limit=3&after=${posted[0]!.id}`), { messages: posted.slice(1, 4), hasMore: true });
    assert.deepEqual(await page(`?limit=3&after=${posted[3]!.id}`), { messages: posted.slice(4), hasMore: false });
    assert.deepEqual(await page(`?after=${posted[1]!.id}&before=${posted[5]!.id}`), {
      messages: posted.slice(2, 5),
      hasMore: false,
    });

    for (const [query, status, code] of [
      ["?limit=0", 400, "bad_request"],
      [`?limit=${MAX_HISTORY_LIMIT + 1}`, 400, "bad_request"],
      ["?limit=ten", 400, "bad_request"],
      ["?before=01900000-0000-7000-8000-000000000000", 404, "not_found"],
      ["?after=nope", 404, "not_found"],
    ] as const) {
      assertApiError(await history(server(), room, query), status, code, query);
    }
    assertApiError(await history(server(), "bad%20room"), 400, "bad_request", "bad room");
  });
});

describe("HTTP API: authorization", () => {
  const WRONG: ReadonlyArray<[string, Record<string, string>]> = [
    ["no Authorization header", { "Content-Type": "application/json" }],
    ["a wrong key", { Authorization: "Bearer not-the-key", "Content-Type": "application/json" }],
    ["the key without Bearer", { Authorization: API_KEY, "Content-Type": "application/json" }],
    ["Basic auth", { Authorization: `Basic ${Buffer.from(`x:${API_KEY}`).toString("base64")}` }],
    ["an empty bearer", { Authorization: "Bearer " }],
  ];
  for (const [what, headers] of WRONG) {
    it(`401 unauthorized with ${what}; nothing stored or broadcast`, async () => {
      const room = uniqueRoom("api-auth");
      const post = await publish(server(), room, { content: "x", sender: SENDER }, headers);
      assertApiError(post, 401, "unauthorized", `POST with ${what}`);
      assert.match(post.headers.get("www-authenticate") ?? "", /^Bearer/);
      assertApiError(await history(server(), room, "", headers), 401, "unauthorized", `GET with ${what}`);
      assert.deepEqual((await history(server(), room)).body, { messages: [], hasMore: false });
    });
  }

  describe("a server without --api-key", () => {
    const keyless = useParley({ apiKey: null });
    it("answers 404 not_found on every API route, with or without a key", async () => {
      for (const headers of [JSON_AUTH, { "Content-Type": "application/json" }]) {
        assertApiError(
          await publish(keyless(), "room", { content: "x", sender: SENDER }, headers),
          404,
          "not_found",
          "POST",
        );
        assertApiError(await history(keyless(), "room", "", headers), 404, "not_found", "GET");
      }
    });
  });
});

describe("HTTP API: CORS", () => {
  it("a preflight from http://localhost:5173 is allowed", async () => {
    const res = await request(server(), "OPTIONS", "/api/rooms/lobby/messages", {
      Origin: GOOD_ORIGIN,
      "Access-Control-Request-Method": "POST",
      "Access-Control-Request-Headers": "authorization,content-type",
    });
    assert.ok(res.status === 204 || res.status === 200, `preflight status ${res.status}`);
    assert.equal(res.headers.get("access-control-allow-origin"), GOOD_ORIGIN);
    assert.match(res.headers.get("access-control-allow-methods") ?? "", /POST/);
    assert.match(res.headers.get("access-control-allow-headers") ?? "", /authorization/i);
    assert.match(res.headers.get("access-control-allow-headers") ?? "", /content-type/i);
  });

  it("a preflight from http://evil.example gets no Access-Control-Allow-Origin", async () => {
    const res = await request(server(), "OPTIONS", "/api/rooms/lobby/messages", {
      Origin: EVIL_ORIGIN,
      "Access-Control-Request-Method": "POST",
      "Access-Control-Request-Headers": "authorization,content-type",
    });
    assert.equal(res.headers.get("access-control-allow-origin"), null);
    assert.equal(res.headers.get("access-control-allow-credentials"), null);
  });

  it("actual requests: the allowed origin is echoed, the other one is not", async () => {
    const room = uniqueRoom("api-cors");
    const good = await publish(server(), room, { content: "x", sender: SENDER }, { ...JSON_AUTH, Origin: GOOD_ORIGIN });
    assert.equal(good.status, 201);
    assert.equal(good.headers.get("access-control-allow-origin"), GOOD_ORIGIN);
    assert.match(good.headers.get("vary") ?? "", /Origin/);
    const evil = await history(server(), room, "", { ...AUTH, Origin: EVIL_ORIGIN });
    assert.equal(evil.headers.get("access-control-allow-origin"), null);
  });
});
