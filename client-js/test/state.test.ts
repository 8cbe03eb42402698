import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { ChatMessage, PresenceState } from "../src/generated/events.js";
import {
  addMember,
  addMessage,
  applyPage,
  initialState,
  mergeMessages,
  newRoom,
  removeMember,
  setPending,
  setPresence,
  setTyping,
  type RoomState,
} from "../src/state.js";

/** A message whose id sorts by n (ids are compared as strings, like UUIDv7s). */
function msg(n: number, extra: Partial<ChatMessage> = {}): ChatMessage {
  const id = `0190a000-0000-7000-8000-${n.toString(16).padStart(12, "0")}`;
  return { id, room: "r", sender: { id: "u1", name: "U1" }, content: `m${n}`, timestamp: 1000 + n, ...extra };
}
const ids = (ms: readonly ChatMessage[]) => ms.map((m) => m.content);
const room = (messages: ChatMessage[], hasOlder = false): RoomState => ({ ...newRoom("r"), messages, hasOlder });

describe("mergeMessages", () => {
  test("orders by id and keeps each id once", () => {
    const out = mergeMessages([msg(1), msg(3)], [msg(4), msg(2), msg(3), msg(2)]);
    assert.deepEqual(ids(out), ["m1", "m2", "m3", "m4"]);
  });
  test("returns the same list when nothing is new", () => {
    const list = [msg(1), msg(2)];
    assert.equal(mergeMessages(list, []), list);
    assert.equal(mergeMessages(list, [msg(2), msg(1)]), list);
  });
  test("appends a newer live message without sorting", () => {
    assert.deepEqual(ids(mergeMessages([msg(1)], [msg(2)])), ["m1", "m2"]);
    assert.deepEqual(ids(mergeMessages([msg(2)], [msg(1)])), ["m1", "m2"]);
  });
});

describe("applyPage", () => {
  test("an older page before the oldest message extends the list and sets hasOlder", () => {
    const r = applyPage(
      room([msg(5), msg(6)], true),
      { before: msg(5).id },
      { messages: [msg(3), msg(4)], hasMore: true },
    );
    assert.deepEqual(ids(r.messages), ["m3", "m4", "m5", "m6"]);
    assert.equal(r.hasOlder, true);
    const r2 = applyPage(r, { before: msg(3).id }, { messages: [msg(1), msg(2)], hasMore: false });
    assert.equal(r2.hasOlder, false);
  });
  test("a page that would leave a gap is not stored", () => {
    const r0 = room([msg(5), msg(6)], true);
    assert.equal(applyPage(r0, { before: msg(6).id }, { messages: [msg(5)], hasMore: true }), r0);
    assert.equal(applyPage(r0, { after: msg(5).id }, { messages: [msg(6)], hasMore: false }), r0);
    assert.equal(applyPage(r0, { after: msg(1).id, before: msg(5).id }, { messages: [msg(2)], hasMore: false }), r0);
  });
  test("a page after the newest message extends the list", () => {
    const r = applyPage(room([msg(1)]), { after: msg(1).id }, { messages: [msg(2), msg(3)], hasMore: false });
    assert.deepEqual(ids(r.messages), ["m1", "m2", "m3"]);
  });
  test("the latest page merges when it reaches back to what is held", () => {
    const r = applyPage(room([msg(1), msg(2)]), {}, { messages: [msg(2), msg(3)], hasMore: true });
    assert.deepEqual(ids(r.messages), ["m1", "m2", "m3"]);
  });
  test("the latest page replaces the list when there is a gap before it", () => {
    const r = applyPage(room([msg(1), msg(2)]), {}, { messages: [msg(8), msg(9)], hasMore: true });
    assert.deepEqual(ids(r.messages), ["m8", "m9"]);
    assert.equal(r.hasOlder, true);
  });
  test("the latest page on an empty room sets hasOlder from hasMore", () => {
    const r = applyPage(room([]), {}, { messages: [msg(1)], hasMore: false });
    assert.deepEqual(ids(r.messages), ["m1"]);
    assert.equal(r.hasOlder, false);
  });
});

describe("room updates", () => {
  test("a confirmed message leaves pending and ends its sender's typing", () => {
    let r = setPending(room([]), { clientMsgId: "c1", room: "r", content: "hi", status: "sending" });
    r = setTyping(r, { id: "u1", name: "U1" }, true);
    r = addMessage(r, msg(1, { clientMsgId: "c1" }));
    assert.deepEqual(ids(r.messages), ["m1"]);
    assert.deepEqual(r.pending, []);
    assert.deepEqual(r.typing, []);
  });
  test("a duplicate message changes nothing", () => {
    const r = addMessage(room([]), msg(1));
    assert.equal(addMessage(r, msg(1)), r);
  });
  test("members are sorted and remembered as seen after leaving", () => {
    let r = addMember(room([]), { id: "b", name: "Bob" });
    r = addMember(r, { id: "a", name: "Alice" });
    assert.equal(addMember(r, { id: "a", name: "Alice" }), r);
    r = setTyping(r, { id: "b", name: "Bob" }, true);
    r = removeMember(r, "b");
    assert.deepEqual(
      r.members.map((u) => u.id),
      ["a"],
    );
    assert.deepEqual(
      r.seen.map((u) => u.id),
      ["a", "b"],
    );
    assert.deepEqual(r.typing, []);
  });
});

describe("setPresence", () => {
  const st = (userId: string, isOnline: boolean): PresenceState => ({
    userId,
    name: userId,
    isOnline,
    status: isOnline ? "online" : "offline",
    lastSeen: 1,
    connections: isOnline ? 1 : 0,
  });
  test("stores states and keeps identity when nothing changed", () => {
    const s1 = setPresence(initialState(null), [st("a", true), st("b", false)]);
    assert.equal(s1.presence["a"]?.isOnline, true);
    assert.equal(setPresence(s1, [st("a", true)]), s1);
  });
  test("skips users whose stored state is newer than the snapshot", () => {
    const s1 = setPresence(initialState(null), [st("a", false)]);
    const s2 = setPresence(s1, [st("a", true), st("b", true)], (id) => id === "a");
    assert.equal(s2.presence["a"]?.isOnline, false);
    assert.equal(s2.presence["b"]?.isOnline, true);
  });
});
