// Malformed client events: every one that carries an ack callback is answered
// {ok:false, error:{code, message}} with the documented code, and the socket
// keeps working: each case is followed by a good request on the same socket.
// Events that need an ack but come without one are dropped. None of it may
// hurt the server: the file ends with a fresh client chatting (and the
// harness fails the file if the process died).

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { useParley } from "../../support/hooks.ts";
import {
  MODES,
  assertError,
  callRaw,
  closeClient,
  connectClient,
  newUser,
  ok,
  send,
  uniqueRoom,
  untyped,
  useClientCleanup,
  type ChatClient,
  type Mode,
} from "../client.ts";
import {
  MAX_CLIENT_MSG_ID_CHARS,
  MAX_CONTENT_CHARS,
  MAX_HISTORY_LIMIT,
  MAX_ROOM_NAME_CHARS,
  type ErrorCode,
} from "../../../client-js/src/generated/events.ts";

const server = useParley();
useClientCleanup();

interface Case {
  what: string;
  event: string;
  /** The event's arguments (before the ack callback). */
  args: (room: string, elsewhere: string, foreignId: string) => unknown[];
  code: ErrorCode;
}

const UNKNOWN_ID = "01900000-0000-7000-8000-000000000000";

const CASES: Case[] = [
  // joinRoom
  { what: "joinRoom without room", event: "joinRoom", args: () => [{}], code: "bad_request" },
  { what: "joinRoom room of wrong type", event: "joinRoom", args: () => [{ room: 7 }], code: "bad_request" },
  { what: "joinRoom room null", event: "joinRoom", args: () => [{ room: null }], code: "bad_request" },
  { what: "joinRoom unknown field", event: "joinRoom", args: (r) => [{ room: r, password: "x" }], code: "bad_request" },
  {
    what: `joinRoom room of ${MAX_ROOM_NAME_CHARS + 1} characters`,
    event: "joinRoom",
    args: () => [{ room: "r".repeat(MAX_ROOM_NAME_CHARS + 1) }],
    code: "bad_request",
  },
  { what: "joinRoom room with a space", event: "joinRoom", args: () => [{ room: "two words" }], code: "bad_request" },
  { what: "joinRoom room with ä", event: "joinRoom", args: () => [{ room: "ä" }], code: "bad_request" },
  { what: "joinRoom empty room", event: "joinRoom", args: () => [{ room: "" }], code: "bad_request" },
  { what: "joinRoom room with #", event: "joinRoom", args: () => [{ room: "#general" }], code: "bad_request" },
  { what: "joinRoom room ..", event: "joinRoom", args: () => [{ room: ".." }], code: "bad_request" },
  { what: "joinRoom room of only dots", event: "joinRoom", args: () => [{ room: "..." }], code: "bad_request" },
  { what: "joinRoom room with /", event: "joinRoom", args: () => [{ room: "a/b" }], code: "bad_request" },
  { what: "joinRoom no payload", event: "joinRoom", args: () => [], code: "bad_request" },
  { what: "joinRoom two payloads", event: "joinRoom", args: (r) => [{ room: r }, { room: r }], code: "bad_request" },
  // leaveRoom
  { what: "leaveRoom of a room not joined", event: "leaveRoom", args: (_r, e) => [{ room: e }], code: "not_found" },
  {
    what: "leaveRoom bad room name",
    event: "leaveRoom",
    args: () => [{ room: "no spaces allowed" }],
    code: "bad_request",
  },
  { what: "leaveRoom without room", event: "leaveRoom", args: () => [{}], code: "bad_request" },
  { what: "leaveRoom unknown field", event: "leaveRoom", args: (r) => [{ room: r, all: true }], code: "bad_request" },
  // chatMessage
  { what: "chatMessage without content", event: "chatMessage", args: (r) => [{ room: r }], code: "bad_request" },
  { what: "chatMessage without room", event: "chatMessage", args: () => [{ content: "x" }], code: "bad_request" },
  {
    what: "chatMessage content of wrong type",
    event: "chatMessage",
    args: (r) => [{ room: r, content: 42 }],
    code: "bad_request",
  },
  {
    what: "chatMessage content as object",
    event: "chatMessage",
    args: (r) => [{ room: r, content: { text: "x" } }],
    code: "bad_request",
  },
  {
    what: "chatMessage unknown field",
    event: "chatMessage",
    args: (r) => [{ room: r, content: "x", html: "<b>x</b>" }],
    code: "bad_request",
  },
  {
    what: "chatMessage empty content",
    event: "chatMessage",
    args: (r) => [{ room: r, content: "" }],
    code: "bad_request",
  },
  {
    what: "chatMessage whitespace-only content",
    event: "chatMessage",
    args: (r) => [{ room: r, content: " \t\n\r\u00a0\u2003 " }],
    code: "bad_request",
  },
  {
    what: `chatMessage ${MAX_CONTENT_CHARS + 1} characters`,
    event: "chatMessage",
    args: (r) => [{ room: r, content: "x".repeat(MAX_CONTENT_CHARS + 1) }],
    code: "too_large",
  },
  {
    what: `chatMessage ${MAX_CONTENT_CHARS + 1} emoji`,
    event: "chatMessage",
    args: (r) => [{ room: r, content: "😀".repeat(MAX_CONTENT_CHARS + 1) }],
    code: "too_large",
  },
  {
    what: "chatMessage to a room not joined",
    event: "chatMessage",
    args: (_r, e) => [{ room: e, content: "x" }],
    code: "forbidden",
  },
  {
    what: "chatMessage to a bad room name",
    event: "chatMessage",
    args: () => [{ room: "ä", content: "x" }],
    code: "bad_request",
  },
  {
    what: "chatMessage empty clientMsgId",
    event: "chatMessage",
    args: (r) => [{ room: r, content: "x", clientMsgId: "" }],
    code: "bad_request",
  },
  {
    what: `chatMessage clientMsgId of ${MAX_CLIENT_MSG_ID_CHARS + 1} characters`,
    event: "chatMessage",
    args: (r) => [{ room: r, content: "x", clientMsgId: "k".repeat(MAX_CLIENT_MSG_ID_CHARS + 1) }],
    code: "bad_request",
  },
  {
    what: "chatMessage clientMsgId of wrong type",
    event: "chatMessage",
    args: (r) => [{ room: r, content: "x", clientMsgId: 5 }],
    code: "bad_request",
  },
  {
    what: "chatMessage binary content",
    event: "chatMessage",
    args: (r) => [{ room: r, content: Buffer.from("bin") }],
    code: "bad_request",
  },
  // fetchHistory
  {
    what: "fetchHistory of a room not joined",
    event: "fetchHistory",
    args: (_r, e) => [{ room: e }],
    code: "forbidden",
  },
  {
    what: "fetchHistory bad room name",
    event: "fetchHistory",
    args: () => [{ room: "x".repeat(MAX_ROOM_NAME_CHARS + 1) }],
    code: "bad_request",
  },
  { what: "fetchHistory limit 0", event: "fetchHistory", args: (r) => [{ room: r, limit: 0 }], code: "bad_request" },
  {
    what: `fetchHistory limit ${MAX_HISTORY_LIMIT + 1}`,
    event: "fetchHistory",
    args: (r) => [{ room: r, limit: MAX_HISTORY_LIMIT + 1 }],
    code: "bad_request",
  },
  {
    what: "fetchHistory negative limit",
    event: "fetchHistory",
    args: (r) => [{ room: r, limit: -1 }],
    code: "bad_request",
  },
  {
    what: "fetchHistory fractional limit",
    event: "fetchHistory",
    args: (r) => [{ room: r, limit: 1.5 }],
    code: "bad_request",
  },
  {
    what: "fetchHistory limit as string",
    event: "fetchHistory",
    args: (r) => [{ room: r, limit: "10" }],
    code: "bad_request",
  },
  {
    what: "fetchHistory empty before",
    event: "fetchHistory",
    args: (r) => [{ room: r, before: "" }],
    code: "bad_request",
  },
  {
    what: "fetchHistory empty after",
    event: "fetchHistory",
    args: (r) => [{ room: r, after: "" }],
    code: "bad_request",
  },
  {
    what: "fetchHistory unknown before cursor",
    event: "fetchHistory",
    args: (r) => [{ room: r, before: UNKNOWN_ID }],
    code: "not_found",
  },
  {
    what: "fetchHistory unknown after cursor",
    event: "fetchHistory",
    args: (r) => [{ room: r, after: UNKNOWN_ID }],
    code: "not_found",
  },
  {
    what: "fetchHistory garbage cursor",
    event: "fetchHistory",
    args: (r) => [{ room: r, before: "'; DROP TABLE messages; --" }],
    code: "not_found",
  },
  {
    what: "fetchHistory cursor of another room",
    event: "fetchHistory",
    args: (r, _e, f) => [{ room: r, after: f }],
    code: "not_found",
  },
  {
    what: "fetchHistory unknown field",
    event: "fetchHistory",
    args: (r) => [{ room: r, order: "desc" }],
    code: "bad_request",
  },
];

// Non-object payloads, for every event with an ack.
for (const event of ["joinRoom", "leaveRoom", "chatMessage", "fetchHistory"]) {
  for (const [what, value] of [
    ["a string", "general"],
    ["an array", [{ room: "general" }]],
    ["null", null],
    ["a number", 42],
    ["a boolean", true],
  ] as const) {
    CASES.push({ what: `${event} payload ${what}`, event, args: () => [value], code: "bad_request" });
  }
}

/**
 * One case of each kind, run over every transport: decoding, validation and
 * the handlers' checks do not depend on the transport, so the table runs
 * over one (websocket) and these prove the path from each transport to the
 * typed error.
 */
const MATRIX = [
  "joinRoom unknown field", // strict decoding
  `chatMessage ${MAX_CONTENT_CHARS + 1} emoji`, // Validate, on a large multi-byte payload
  "chatMessage to a room not joined", // the handler
  "fetchHistory payload null", // not an object
  "joinRoom two payloads", // the wrong number of arguments
];

/**
 * One socket for a describe block (it must survive every case), in a room;
 * another room holds a message whose id is a foreign cursor.
 */
function useAnn(mode: Mode) {
  const s = {} as { ann: ChatClient; room: string; elsewhere: string; foreignId: string };
  before(async () => {
    s.room = uniqueRoom("valid");
    s.elsewhere = uniqueRoom("elsewhere");
    s.ann = await connectClient(server(), { mode, user: newUser("Ann"), keep: true });
    const other = await connectClient(server(), { mode: "websocket", user: newUser("Other"), keep: true });
    await ok(other.socket, "joinRoom", { room: s.elsewhere });
    s.foreignId = (await send(other, s.elsewhere, "not in Ann's room")).id;
    closeClient(other.socket);
    await ok(s.ann.socket, "joinRoom", { room: s.room });
  });
  after(() => closeClient(s.ann.socket));
  return {
    s,
    /** A good request on the same socket: it must still work. */
    async stillWorks(after: string): Promise<void> {
      const msg = await send(s.ann, s.room, `ok after ${after}`);
      assert.equal(msg.content, `ok after ${after}`);
    },
    /** Sends case c and checks its error, then that the socket still works. */
    async check(c: Case): Promise<void> {
      const res = await callRaw(s.ann.socket, c.event, ...c.args(s.room, s.elsewhere, s.foreignId));
      assertError(res, c.code, c.what);
      await this.stillWorks(c.what);
    },
  };
}

describe(`malformed events: the table of ${CASES.length} bad payloads [websocket]`, () => {
  const ann = useAnn("websocket");
  for (const c of CASES) {
    it(`${c.what} → ${c.code}`, () => ann.check(c));
  }
});

for (const mode of MODES) {
  describe(`malformed events [${mode}]`, () => {
    const fixture = useAnn(mode);
    const { s } = fixture;
    const stillWorks = (after: string) => fixture.stillWorks(after);

    it(`transport matrix: ${MATRIX.length} kinds of bad payload get their codes, and the socket keeps working`, async () => {
      for (const what of MATRIX) {
        const c = CASES.find((x) => x.what === what);
        assert.ok(c, `no case "${what}"`);
        await fixture.check(c);
      }
    });

    it(`${MAX_CONTENT_CHARS} characters and ${MAX_CONTENT_CHARS} emoji (twice the UTF-16 units, 4 times the bytes) are accepted, after trimming`, async () => {
      const plain = await send(s.ann, s.room, `  ${"x".repeat(MAX_CONTENT_CHARS)}  `);
      assert.equal(plain.content, "x".repeat(MAX_CONTENT_CHARS));
      const emoji = await send(s.ann, s.room, "😀".repeat(MAX_CONTENT_CHARS));
      assert.equal(emoji.content, "😀".repeat(MAX_CONTENT_CHARS));
      assert.equal([...emoji.content].length, MAX_CONTENT_CHARS);
      const clientMsgId = "k".repeat(MAX_CLIENT_MSG_ID_CHARS);
      assert.equal((await send(s.ann, s.room, "longest key", clientMsgId)).clientMsgId, clientMsgId);
      const long = "r".repeat(MAX_ROOM_NAME_CHARS);
      assert.deepEqual((await ok(s.ann.socket, "joinRoom", { room: long })).room, long);
      assert.deepEqual(
        (await ok(s.ann.socket, "fetchHistory", { room: s.room, limit: MAX_HISTORY_LIMIT })).messages.at(-1)?.content,
        "longest key",
      );
      assert.equal((await ok(s.ann.socket, "fetchHistory", { room: s.room, limit: 1 })).messages.length, 1);
    });

    it("an event that needs an ack but has none is dropped; the socket keeps working", async () => {
      const dropRoom = uniqueRoom("dropped");
      untyped(s.ann.socket).emit("joinRoom", { room: dropRoom });
      untyped(s.ann.socket).emit("chatMessage", { room: s.room, content: "dropped message" });
      untyped(s.ann.socket).emit("fetchHistory", { room: s.room });
      untyped(s.ann.socket).emit("leaveRoom", { room: s.room });
      // A socket's events are handled in order, so by the time this ack
      // arrives the ack-less events above have been handled (and dropped).
      await stillWorks("ack-less events");
      const latest = await ok(s.ann.socket, "fetchHistory", { room: s.room, limit: 3 });
      assert.ok(
        !latest.messages.some((m) => m.content === "dropped message"),
        "the ack-less chatMessage was not stored",
      );
      assertError(
        await callRaw(s.ann.socket, "chatMessage", { room: dropRoom, content: "x" }),
        "forbidden",
        "the ack-less joinRoom did not join",
      );
      await stillWorks("checking the ack-less joinRoom");
    });

    it("unknown events, with or without an ack, are ignored; the socket keeps working", async () => {
      untyped(s.ann.socket).emit("noSuchEvent", { room: s.room });
      untyped(s.ann.socket).emit("newChatMessage", {
        room: s.room,
        content: "server events cannot be sent by clients",
      });
      untyped(s.ann.socket).emit("userJoined", { room: s.room, user: { id: "x", name: "x" } });
      await stillWorks("unknown events");
      assert.equal(s.ann.socket.connected, true);
    });
  });
}

describe("bad input never kills the server", () => {
  it("after everything above, fresh clients still connect and chat", async () => {
    const room = uniqueRoom("survivor");
    const a = await connectClient(server(), { mode: "polling", user: newUser("After") });
    const b = await connectClient(server(), { mode: "websocket", user: newUser("Math") });
    await ok(a.socket, "joinRoom", { room });
    await ok(b.socket, "joinRoom", { room });
    const msg = await send(a, room, "still here");
    assert.deepEqual(await b.log.next("newChatMessage"), msg);
    assert.ok(server().running(), "parley is still running");
  });
});
