// Server-sent events with a real HTTP client (Node's fetch stream, parsed as
// EventSource does): GET /sse/rooms/:room streams newChatMessage (id: the
// message id), userJoined and userLeft with the same JSON as Socket.IO; a
// client that drops mid-stream and reconnects with Last-Event-ID (or
// ?lastEventId=) while messages keep flowing gets every message exactly
// once, in order. GET /sse/presence streams status events after a snapshot.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { connectClient, ok as chatOk, send, useClientCleanup } from "../../chat/client.ts";
import { useParley } from "../../support/hooks.ts";
import { MAX_USER_ID_CHARS, type ChatMessage, type PresenceState } from "../../../client-js/src/generated/events.ts";
import { MODES, SSEClient, closeSocket, connectPresence, newUser, uniqueRoom, useCleanup, useSSECleanup } from "../client.ts";

const HEARTBEAT_MS = 200;
// Messages flow as fast as acks come back: chat's rate limit (10/s) is off
// here; the auth suite tests it.
const server = useParley({
  args: ["--sse-heartbeat", `${HEARTBEAT_MS}ms`, "--sse-retry", "1500ms", "--presence-grace", "-1s", "--rate-limits", "chatMessage=0:0"],
});
useCleanup();
useClientCleanup();
useSSECleanup();

function roomURL(room: string, query = ""): string {
  return `${server().url}/sse/rooms/${room}${query}`;
}

describe("SSE room feed", () => {
  it("answers text/event-stream with the retry hint, no-cache, no proxy buffering, and heartbeats", async () => {
    const s = await SSEClient.open(roomURL(uniqueRoom("headers")), { Origin: "http://localhost:5173" });
    assert.equal(s.res.headers.get("content-type"), "text/event-stream");
    assert.equal(s.res.headers.get("cache-control"), "no-cache");
    assert.equal(s.res.headers.get("x-accel-buffering"), "no");
    assert.equal(s.res.headers.get("access-control-allow-origin"), "http://localhost:5173");
    assert.equal(await s.comment(0, HEARTBEAT_MS * 10), "heartbeat");
    assert.equal(s.retry, 1500);
    assert.equal(s.events.length, 0, "an idle room sends no event");
  });

  for (const mode of MODES) {
    it(`streams the room's newChatMessage, userJoined and userLeft with the Socket.IO payloads [${mode}]`, async () => {
      const room = uniqueRoom("sse-live");
      const alice = await connectClient(server(), { mode, user: newUser("Alice") });
      await chatOk(alice.socket, "joinRoom", { room });
      const s = await SSEClient.open(roomURL(room));
      const bob = await connectClient(server(), { mode, user: newUser("Bob") });
      await chatOk(bob.socket, "joinRoom", { room });
      const joined = await s.next();
      assert.equal(joined.event, "userJoined");
      assert.equal(joined.id, undefined, "userJoined has no id");
      assert.deepEqual(JSON.parse(joined.data), await alice.log.next("userJoined"));

      const sent = await send(bob, room, "hello SSE");
      const ev = await s.next();
      assert.equal(ev.event, "newChatMessage");
      assert.equal(ev.id, sent.id);
      // The same JSON as over Socket.IO.
      assert.deepEqual(JSON.parse(ev.data), await alice.log.next("newChatMessage"));
      assert.deepEqual(JSON.parse(ev.data), sent);

      bob.socket.emit("typing", { room, isTyping: true }); // not streamed
      closeSocket(bob.socket);
      const left = await s.next();
      assert.equal(left.event, "userLeft");
      assert.deepEqual(JSON.parse(left.data), await alice.log.next("userLeft"));
      assert.equal(s.lastEventId, sent.id, "userJoined and userLeft leave the last event id alone");
    });
  }

  it("replays the history after Last-Event-ID, then goes live; ?lastEventId= works too", async () => {
    const room = uniqueRoom("sse-replay");
    const alice = await connectClient(server(), { mode: "websocket", user: newUser("Alice") });
    await chatOk(alice.socket, "joinRoom", { room });
    const sent: ChatMessage[] = [];
    for (let i = 0; i < 5; i++) sent.push(await send(alice, room, `m${i}`));

    const s = await SSEClient.open(roomURL(room), { "Last-Event-ID": sent[1]!.id });
    for (const m of sent.slice(2)) assert.equal((await s.next(["newChatMessage"])).id, m.id);
    sent.push(await send(alice, room, "live"));
    assert.equal((await s.next(["newChatMessage"])).id, sent[5]!.id);

    const q = await SSEClient.open(roomURL(room, `?lastEventId=${sent[3]!.id}`));
    assert.deepEqual([(await q.next(["newChatMessage"])).id, (await q.next(["newChatMessage"])).id], [sent[4]!.id, sent[5]!.id]);

    await assert.rejects(SSEClient.open(roomURL(room), { "Last-Event-ID": "01900000-0000-7000-8000-000000000000" }), (err: { status?: number }) => {
      assert.equal(err.status, 400);
      return true;
    });
    await assert.rejects(SSEClient.open(roomURL("bad%20room")), (err: { status?: number }) => err.status === 400);
  });

  for (const mode of MODES) {
    it(`a client that drops mid-stream and resumes with Last-Event-ID while messages keep flowing sees each message once, in order [${mode}]`, async () => {
      const room = uniqueRoom("sse-resume");
      const TOTAL = 120;
      const writers = await Promise.all(
        [0, 1].map(async (i) => {
          const w = await connectClient(server(), { mode, user: newUser(`Writer${i}`) });
          await chatOk(w.socket, "joinRoom", { room });
          return w;
        }),
      );
      let s = await SSEClient.open(roomURL(room)); // live from here
      // Two writers post concurrently, each waiting for its acks, while the
      // reader drops and reconnects.
      const acked: ChatMessage[] = [];
      const writing = Promise.all(
        writers.map(async (w, i) => {
          for (let n = 0; n < TOTAL / 2; n++) acked.push(await send(w, room, `w${i}-${n}`));
        }),
      );
      const got: string[] = [];
      let reconnects = 0;
      let useQuery = false;
      while (got.length < TOTAL) {
        // Read a few events, then drop the connection mid-stream.
        const take = 3 + (reconnects % 7);
        for (let n = 0; n < take && got.length < TOTAL; n++) {
          const ev = await s.next(["newChatMessage"]);
          got.push(ev.id!);
        }
        if (got.length >= TOTAL) break;
        // Resume after the last event handled; those parsed but not yet
        // handled are lost with the connection, as in a client that crashed.
        const last = got.at(-1)!;
        s.close();
        reconnects++;
        // Alternate the two ways to resume.
        s = useQuery ? await SSEClient.open(roomURL(room, `?lastEventId=${last}`)) : await SSEClient.open(roomURL(room), { "Last-Event-ID": last });
        useQuery = !useQuery;
      }
      await writing;
      s.close();
      const want = acked.map((m) => m.id).sort();
      assert.ok(reconnects >= 10, `reconnected ${reconnects} times`);
      assert.equal(new Set(got).size, got.length, "no duplicate");
      assert.deepEqual(got, want, "no gap, in id (commit) order");
    });
  }
});

describe("SSE presence feed", () => {
  for (const mode of MODES) {
    it(`sends a snapshot of the users and rooms asked for, then their status changes [${mode}]`, async () => {
      const room = uniqueRoom("sse-presence");
      const bob = newUser("Bob");
      const carol = newUser("Carol");
      const carolChat = await connectClient(server(), { mode, user: carol });
      await chatOk(carolChat.socket, "joinRoom", { room });
      const s = await SSEClient.open(`${server().url}/sse/presence?userIds=${bob.userId}&rooms=${room}`);
      const first = JSON.parse((await s.next(["status"])).data) as PresenceState;
      const second = JSON.parse((await s.next(["status"])).data) as PresenceState;
      assert.deepEqual(
        [first, second].map((p) => [p.userId, p.isOnline]).sort(),
        [
          [bob.userId, false],
          [carol.userId, true],
        ].sort(),
      );

      const tab = await connectPresence(server(), { mode, user: bob });
      let ev = JSON.parse((await s.next(["status"])).data) as PresenceState;
      assert.deepEqual([ev.userId, ev.isOnline, ev.connections], [bob.userId, true, 1]);
      await chatOk(carolChat.socket, "leaveRoom", { room });
      closeSocket(tab.socket);
      // The server runs with no grace period: bob is offline at once.
      ev = JSON.parse((await s.next(["status"])).data) as PresenceState;
      assert.deepEqual([ev.userId, ev.isOnline, ev.status], [bob.userId, false, "offline"]);
      assert.ok(ev.lastSeen > 0);
    });
  }

  it("refuses bad queries with 400", async () => {
    for (const q of ["rooms=bad%20room", `userIds=${"x".repeat(MAX_USER_ID_CHARS + 1)}`]) {
      await assert.rejects(SSEClient.open(`${server().url}/sse/presence?${q}`), (err: { status?: number }) => err.status === 400);
    }
  });
});
