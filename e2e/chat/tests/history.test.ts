// fetchHistory paging: ids are UUIDv7 assigned at commit, so ascending ids
// are commit order. 120 messages are posted concurrently from 3 sockets, then
// read back in pages of 50 with `before` (towards older) and `after`
// (towards newer); `before` + `after` together is the range between them.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { useParley } from "../../support/hooks.ts";
import {
  MODES,
  connectClient,
  newUser,
  ok,
  send,
  uniqueRoom,
  useClientCleanup,
  uuidV7Millis,
  type ChatClient,
} from "../client.ts";
import {
  DEFAULT_HISTORY_LIMIT,
  MAX_HISTORY_LIMIT,
  type ChatMessage,
} from "../../../client-js/src/generated/events.ts";

const server = useParley();
useClientCleanup();

const SOCKETS = 3;
const PER_SOCKET = 40;
const TOTAL = SOCKETS * PER_SOCKET;
const PAGE = 50;

function ids(msgs: ChatMessage[]): string[] {
  return msgs.map((m) => m.id);
}

function assertAscending(msgs: ChatMessage[], what: string): void {
  for (let i = 1; i < msgs.length; i++) {
    assert.ok(msgs[i - 1]!.id < msgs[i]!.id, `${what}: ids ascend at ${i}`);
    assert.ok(msgs[i - 1]!.timestamp <= msgs[i]!.timestamp, `${what}: timestamps never go back at ${i}`);
  }
}

for (const mode of MODES) {
  describe(`fetchHistory paging [${mode}]`, () => {
    it(`${TOTAL} messages from ${SOCKETS} concurrent sockets: every id once, in commit order, in pages of ${PAGE}`, async () => {
      const room = uniqueRoom("history");
      const writers: ChatClient[] = await Promise.all(
        Array.from({ length: SOCKETS }, (_, i) => connectClient(server(), { mode, user: newUser(`Writer${i}`) })),
      );
      for (const w of writers) await ok(w.socket, "joinRoom", { room });

      // Each socket fires all its messages at once; the three run concurrently.
      const acked = await Promise.all(
        writers.map((w, s) =>
          Promise.all(
            Array.from({ length: PER_SOCKET }, (_, i) => send(w, room, `s${s}-${String(i).padStart(2, "0")}`)),
          ),
        ),
      );
      const all = acked.flat();
      assert.equal(new Set(ids(all)).size, TOTAL, "every ack has its own id");
      for (const m of all) uuidV7Millis(m.id);
      // A socket's events are handled in order, so its acks ascend in send order.
      for (const [s, list] of acked.entries()) assertAscending(list, `socket ${s} acks`);
      const expected = [...all].sort((a, b) => (a.id < b.id ? -1 : 1));

      // Fan-out: each writer got the other writers' messages, each once, and none of its own.
      for (const [s, w] of writers.entries()) {
        const got: ChatMessage[] = [];
        for (let i = 0; i < TOTAL - PER_SOCKET; i++) got.push(await w.log.next("newChatMessage"));
        const others = acked.filter((_, o) => o !== s).flat();
        assert.deepEqual(ids(got).sort(), ids(others).sort(), `writer ${s} got every other message once`);
      }

      // Backwards from the newest: 50, 50, 20.
      const back: ChatMessage[][] = [];
      let res = await ok(writers[0]!.socket, "fetchHistory", { room, limit: PAGE });
      back.push(res.messages);
      assert.equal(res.hasMore, true);
      while (res.hasMore) {
        res = await ok(writers[0]!.socket, "fetchHistory", { room, before: res.messages[0]!.id, limit: PAGE });
        back.push(res.messages);
      }
      assert.deepEqual(
        back.map((p) => p.length),
        [50, 50, 20],
      );
      const backward = back.reverse().flat();
      assertAscending(backward, "before pages");
      assert.deepEqual(backward, expected, "the before pages hold every acked message exactly once, ascending");

      // Forwards from the oldest: the oldest, then 50, 50, 19.
      const oldest = backward[0]!;
      const fwd: ChatMessage[][] = [];
      res = { messages: [oldest], hasMore: true };
      while (res.hasMore) {
        res = await ok(writers[1]!.socket, "fetchHistory", { room, after: res.messages.at(-1)!.id, limit: PAGE });
        fwd.push(res.messages);
      }
      assert.deepEqual(
        fwd.map((p) => p.length),
        [50, 50, 19],
      );
      assert.deepEqual([oldest, ...fwd.flat()], expected, "the after pages hold every message exactly once, ascending");

      // The ends: nothing before the oldest, nothing after the newest.
      assert.deepEqual(await ok(writers[2]!.socket, "fetchHistory", { room, before: oldest.id }), {
        messages: [],
        hasMore: false,
      });
      const newest = expected.at(-1)!;
      assert.deepEqual(await ok(writers[2]!.socket, "fetchHistory", { room, after: newest.id }), {
        messages: [],
        hasMore: false,
      });
      // A page that ends exactly at an end says so.
      assert.deepEqual(
        await ok(writers[2]!.socket, "fetchHistory", { room, after: expected[TOTAL - 51]!.id, limit: PAGE }),
        {
          messages: expected.slice(TOTAL - 50),
          hasMore: false,
        },
      );
      assert.deepEqual(await ok(writers[2]!.socket, "fetchHistory", { room, before: expected[50]!.id, limit: PAGE }), {
        messages: expected.slice(0, 50),
        hasMore: false,
      });
      // The largest page holds everything.
      assert.ok(TOTAL <= MAX_HISTORY_LIMIT);
      assert.deepEqual(await ok(writers[2]!.socket, "fetchHistory", { room, limit: MAX_HISTORY_LIMIT }), {
        messages: expected,
        hasMore: false,
      });
      // No limit: the default page (50).
      assert.deepEqual(await ok(writers[2]!.socket, "fetchHistory", { room }), {
        messages: expected.slice(-DEFAULT_HISTORY_LIMIT),
        hasMore: true,
      });

      // before + after: what lies strictly between, oldest first.
      const between = await ok(writers[0]!.socket, "fetchHistory", {
        room,
        after: expected[10]!.id,
        before: expected[20]!.id,
      });
      assert.deepEqual(between, { messages: expected.slice(11, 20), hasMore: false });
      const cut = await ok(writers[0]!.socket, "fetchHistory", {
        room,
        after: expected[10]!.id,
        before: expected[20]!.id,
        limit: 5,
      });
      assert.deepEqual(
        cut,
        { messages: expected.slice(11, 16), hasMore: true },
        "a cut range starts at `after`, more are newer",
      );
      const adjacent = await ok(writers[0]!.socket, "fetchHistory", {
        room,
        after: expected[10]!.id,
        before: expected[11]!.id,
      });
      assert.deepEqual(adjacent, { messages: [], hasMore: false });

      // A late joiner gets the newest 50 (the default page) with the join.
      const late = await connectClient(server(), { mode, user: newUser("Late") });
      const joined = await ok(late.socket, "joinRoom", { room });
      assert.deepEqual(joined.history, expected.slice(-DEFAULT_HISTORY_LIMIT));
      assert.equal(joined.members.length, SOCKETS + 1);
      // Nothing was broadcast twice.
      for (const w of writers) assert.equal(w.log.count("newChatMessage"), TOTAL - PER_SOCKET);
    });
  });
}
