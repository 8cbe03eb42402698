// The demo contract on /chat with socket.io-client 2.5.0 against the real
// bin/parley started with --allow-eio3 (dev mode: the identity is the
// namespace query {userId, name}, which a 2.x client sends with its CONNECT
// and Parley, as Node, reads as the socket's auth). A 2.x client and a
// current socket.io-client share a room. Parley only (the Node twin has no
// /chat): skipped unless PARLEY_BIN names the binary.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { io as ioV4, type Socket } from "socket.io-client";
import type {
  ChatMessage,
  FetchHistoryResult,
  JoinRoomResult,
  Result,
  UserRef,
} from "../../../client-js/src/generated/events.ts";
import { startParley, type Parley } from "../../support/parley.ts";
import {
  MODES,
  WAIT_MS,
  ask,
  connectClient,
  createClient,
  createManagerClient,
  useClientCleanup,
  within,
  type V2Socket,
} from "../client.ts";

const skip = process.env["PARLEY_BIN"] ? false : "PARLEY_BIN is not set (the /chat contract is Parley's)";

let seq = 0;
function newUser(name: string): { userId: string; name: string } {
  return { userId: `${name.toLowerCase()}-${process.pid}-${++seq}`, name };
}
const ref = (u: { userId: string; name: string }): UserRef => ({ id: u.userId, name: u.name });

/** Calls a /chat event with its ack and returns the data of an ok Result. */
async function ok<T>(socket: V2Socket, event: string, req: unknown): Promise<T> {
  const [res] = (await ask(socket, event, req)) as [Result<T>];
  if (!res.ok) assert.fail(`${event} ${JSON.stringify(req)}: ${JSON.stringify(res)}`);
  return res.data;
}

describe("/chat with socket.io-client 2.x", { skip, timeout: 60_000 }, () => {
  let parley: Parley;
  before(async () => {
    parley = await startParley({ args: ["--allow-eio3"] });
  });
  after(async () => {
    await parley?.dispose();
  });
  useClientCleanup();

  for (const mode of MODES) {
    it(`join, send, ack, newChatMessage, history over ${mode}`, async () => {
      const room = `eio3:${mode}-${process.pid}-${++seq}`; // ":" keeps it from the shape of a socket id
      const ann = newUser("Ann");
      const bob = newUser("Bob");
      const a = await connectClient(parley.url, { mode, nsp: "/chat", query: ann });
      const b = await connectClient(parley.url, { mode, nsp: "/chat", query: bob });
      assert.equal(a.socket.id, `/chat#${a.socket.io.engine.id}`);

      assert.deepEqual(await ok<JoinRoomResult>(a.socket, "joinRoom", { room }), {
        room,
        members: [ref(ann)],
        history: [],
      });
      const joined = await ok<JoinRoomResult>(b.socket, "joinRoom", { room });
      assert.deepEqual(joined.members.map((m) => m.id).sort(), [ann.userId, bob.userId].sort());
      assert.deepEqual(await a.log.next("userJoined"), { room, user: ref(bob) });

      const sent = await ok<ChatMessage>(a.socket, "chatMessage", {
        room,
        content: "hello from 2.x é😀",
        clientMsgId: "m1",
      });
      assert.equal(sent.room, room);
      assert.equal(sent.content, "hello from 2.x é😀");
      assert.deepEqual(sent.sender, ref(ann));
      assert.equal(sent.clientMsgId, "m1");
      assert.deepEqual(await b.log.next("newChatMessage"), sent);

      const history = await ok<FetchHistoryResult>(b.socket, "fetchHistory", { room });
      assert.deepEqual(history.messages, [sent]);
    });
  }

  it("a 2.x client and a current client share a room", async () => {
    const room = `eio3:mixed-${process.pid}-${++seq}`;
    const old = newUser("Old");
    const cur = newUser("Cur");
    const a = await connectClient(parley.url, { nsp: "/chat", query: old });
    const b: Socket = ioV4(`${parley.url}/chat`, {
      forceNew: true,
      reconnection: false,
      transports: ["websocket"],
      auth: cur,
    });
    try {
      await within(new Promise<void>((resolve) => b.once("connect", () => resolve())), WAIT_MS, "v4 connect");
      await ok(a.socket, "joinRoom", { room });
      const joined = (await b.timeout(WAIT_MS).emitWithAck("joinRoom", { room })) as Result<JoinRoomResult>;
      assert.ok(joined.ok);
      const got = within(
        new Promise<ChatMessage>((resolve) => b.once("newChatMessage", resolve)),
        WAIT_MS,
        "newChatMessage on the current client",
      );
      const sent = await ok<ChatMessage>(a.socket, "chatMessage", { room, content: "across versions" });
      assert.deepEqual(await got, sent);
      const back = (await b
        .timeout(WAIT_MS)
        .emitWithAck("chatMessage", { room, content: "and back" })) as Result<ChatMessage>;
      if (!back.ok) assert.fail(`chatMessage from the current client: ${JSON.stringify(back)}`);
      assert.deepEqual(await a.log.next("newChatMessage"), back.data);
    } finally {
      b.close();
    }
  });

  it("a token in the namespace query: its claims are the identity, private rooms included", async () => {
    const res = await fetch(`${parley.url}/api/dev/token?name=Tok%20Query&rooms=private:eio3`);
    assert.equal(res.status, 200);
    const { token } = (await res.json()) as { token: string };
    const c = await connectClient(parley.url, { nsp: "/chat", query: { token } });
    const joined = await ok<JoinRoomResult>(c.socket, "joinRoom", { room: "private:eio3" });
    assert.deepEqual(joined.members, [{ id: "tok-query", name: "Tok Query" }]);
    const forged = createClient(parley.url, { nsp: "/chat", query: { token: token.slice(0, -2) + "xx" } });
    assert.equal(((await forged.log.next("error")) as { code?: string }).code, "unauthorized");
  });

  it("a namespace opened on a shared Manager: the identity from the handshake query", async () => {
    const user = newUser("Shared");
    const c = createManagerClient(parley.url, "/chat", user);
    await c.log.next("connect");
    const room = `eio3:shared-${process.pid}-${++seq}`;
    const joined = await ok<JoinRoomResult>(c.socket, "joinRoom", { room });
    assert.deepEqual(joined.members, [ref(user)]);
  });

  it("without an identity the CONNECT is refused with the unauthorized error", async () => {
    const c = createClient(parley.url, { nsp: "/chat" });
    const err = (await c.log.next("error")) as { code?: string };
    assert.equal(err.code, "unauthorized");
    assert.equal(c.socket.connected, false);
  });
});
