// GraphQL subscriptions at /graphql with the real `graphql-ws` client
// (graphql-transport-ws over the `ws` WebSocket) next to socket.io-client
// users in the same rooms: a subscription receives what a socket.io user
// posts, a mutation reaches a socket.io user, userJoined/userLeft and
// status follow the users, and a refused token closes the connection
// with 4403 before any operation.

import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import { createClient, type Client, type FormattedExecutionResult } from "graphql-ws";
import WebSocket from "ws";
import { io, type Socket } from "socket.io-client";
import { useParley } from "../support/hooks.ts";
import { WAIT_MS, within } from "../support/within.ts";
import { SECRET, sign } from "../auth/jwt.ts";

const server = useParley({ args: ["--jwt-secret", SECRET] });

let seq = 0;
/** A fresh name (the ":" keeps a room name from looking like a socket id). */
function uid(label: string): string {
  return `${label}:${process.pid}-${++seq}`;
}

const clients: Client[] = [];
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.disconnect();
  await Promise.all(clients.splice(0).map((c) => c.dispose()));
});

function graphqlURL(): string {
  return server().url.replace(/^http/, "ws") + "/graphql";
}

/** A graphql-ws client that connects at once and never retries; `closed` settles with the first close. */
function gqlClient(connectionParams: Record<string, unknown>): {
  client: Client;
  closed: Promise<{ code: number; reason: string }>;
  acked: Promise<Record<string, unknown>>;
} {
  let onClosed: (e: { code: number; reason: string }) => void = () => undefined;
  let onAcked: (p: Record<string, unknown>) => void = () => undefined;
  const closed = new Promise<{ code: number; reason: string }>((resolve) => (onClosed = resolve));
  const acked = new Promise<Record<string, unknown>>((resolve) => (onAcked = resolve));
  const client = createClient({
    url: graphqlURL(),
    webSocketImpl: WebSocket,
    connectionParams,
    lazy: false,
    retryAttempts: 0,
    onNonLazyError: () => undefined, // reported through `closed`
    on: {
      connected: (_socket, payload) => onAcked((payload ?? {}) as Record<string, unknown>),
      closed: (e) => {
        const ce = e as { code: number; reason: string };
        onClosed({ code: ce.code, reason: ce.reason });
      },
    },
  });
  clients.push(client);
  return { client, closed, acked };
}

/** A user with a token, as a graphql-ws connection (acknowledged). */
async function gqlUser(id: string): Promise<Client> {
  const { client, acked } = gqlClient({ token: sign({ sub: id, name: id.toUpperCase() }) });
  const ack = await within(acked, WAIT_MS, "connection_ack");
  assert.equal(ack["userId"], id);
  return client;
}

/** A socket.io-client user of /chat, connected. */
async function socketUser(id: string): Promise<Socket> {
  const s = io(`${server().url}/chat`, {
    forceNew: true,
    reconnection: false,
    transports: ["websocket"],
    auth: { token: sign({ sub: id, name: id.toUpperCase() }) },
  });
  sockets.push(s);
  await within(
    new Promise<void>((resolve, reject) => {
      s.once("connect", () => resolve());
      s.once("connect_error", (e) => reject(e));
    }),
    WAIT_MS,
    `${id} connects`,
  );
  return s;
}

/**
 * Waits until userID is present in room, asking the presence query over
 * the connection until it is (a subscription's join completes after the
 * subscription is sent; nothing else tells the client when).
 */
async function inRoom(client: Client, room: string, userID: string): Promise<void> {
  await within(
    (async () => {
      for (;;) {
        const r = await once<{ presence: { userId: string }[] }>(
          client,
          `query($room: String!) { presence(rooms: [$room]) { userId } }`,
          { room },
        );
        assert.equal(r.errors, undefined, JSON.stringify(r.errors));
        if (r.data?.presence.some((p) => p.userId === userID)) return;
      }
    })(),
    WAIT_MS,
    `${userID} in ${room}`,
  );
}

async function ack(s: Socket, ev: string, req: unknown): Promise<unknown> {
  const res = (await s.timeout(WAIT_MS).emitWithAck(ev, req)) as { ok: boolean; data?: unknown; error?: unknown };
  assert.equal(res.ok, true, `${ev}: ${JSON.stringify(res)}`);
  return res.data;
}

/** One subscription's results, in order, awaited one by one. */
class Feed<T> {
  private readonly results: FormattedExecutionResult<T, unknown>[] = [];
  private readonly waiters: ((r: FormattedExecutionResult<T, unknown>) => void)[] = [];
  private completed = false;
  readonly dispose: () => void;

  constructor(client: Client, query: string, variables: Record<string, unknown> = {}) {
    this.dispose = client.subscribe<T>(
      { query, variables },
      {
        next: (r) => {
          const w = this.waiters.shift();
          if (w) w(r);
          else this.results.push(r);
        },
        error: (e) => {
          const w = this.waiters.shift();
          const r = { errors: [{ message: String(e) }] } as FormattedExecutionResult<T, unknown>;
          if (w) w(r);
          else this.results.push(r);
        },
        complete: () => {
          this.completed = true;
        },
      },
    );
  }

  /** The next result, within WAIT_MS. */
  next(what: string): Promise<FormattedExecutionResult<T, unknown>> {
    const r = this.results.shift();
    if (r) return Promise.resolve(r);
    return within(new Promise((resolve) => this.waiters.push(resolve)), WAIT_MS, what);
  }

  /** The next result's data, asserting it has no errors. */
  async data(what: string): Promise<T> {
    const r = await this.next(what);
    assert.equal(r.errors, undefined, `${what}: ${JSON.stringify(r.errors)}`);
    assert.ok(r.data, `${what}: no data`);
    return r.data;
  }

  get done(): boolean {
    return this.completed;
  }
}

/** Runs one operation over the connection and returns its single result. */
async function once<T>(
  client: Client,
  query: string,
  variables: Record<string, unknown> = {},
): Promise<FormattedExecutionResult<T, unknown>> {
  const it = client.iterate<T>({ query, variables });
  const first = await within(it.next(), WAIT_MS, "an operation's result");
  await it.return?.();
  assert.ok(!first.done, "the operation completed without a result");
  return first.value;
}

interface ChatMessage {
  id: string;
  room: string;
  content: string;
  timestamp: number;
  clientMsgId: string | null;
  sender: { id: string; name: string };
}
const MESSAGE_FIELDS = "id room content timestamp clientMsgId sender { id name }";

describe("graphql-ws subscriptions next to socket.io users", () => {
  it("newChatMessage receives a socket.io user's message", async () => {
    const room = uid("room");
    const ginaID = uid("gina");
    const gina = await gqlUser(ginaID);
    const bob = await socketUser(uid("bob"));
    const feed = new Feed<{ newChatMessage: ChatMessage }>(
      gina,
      `subscription($room: String!) { newChatMessage(room: $room) { ${MESSAGE_FIELDS} } }`,
      { room },
    );
    await inRoom(gina, room, ginaID);
    // The subscription joined the room: bob sees gina as a member.
    const joined = (await ack(bob, "joinRoom", { room })) as { members: { id: string }[] };
    assert.equal(joined.members.length, 2, JSON.stringify(joined.members));
    const sent = (await ack(bob, "chatMessage", { room, content: "hello graphql", clientMsgId: "m1" })) as ChatMessage;
    const got = (await feed.data("newChatMessage")).newChatMessage;
    assert.deepEqual(got, { ...sent, clientMsgId: "m1" });
    feed.dispose();
  });

  it("a sendMessage mutation reaches a socket.io user", async () => {
    const room = uid("room");
    const gina = await gqlUser(uid("gina"));
    const bob = await socketUser(uid("bob"));
    await ack(bob, "joinRoom", { room });
    const received = new Promise<ChatMessage>((resolve) => bob.once("newChatMessage", resolve));
    const r = await once<{ sendMessage: ChatMessage }>(
      gina,
      `mutation($room: String!, $content: String!) { sendMessage(room: $room, content: $content) { ${MESSAGE_FIELDS} } }`,
      { room, content: "  from graphql  " },
    );
    assert.equal(r.errors, undefined, JSON.stringify(r.errors));
    const msg = await within(received, WAIT_MS, "bob's newChatMessage");
    assert.equal(msg.content, "from graphql");
    assert.equal(msg.id, r.data?.sendMessage.id);
    assert.equal(msg.sender.name, r.data?.sendMessage.sender.name);
    assert.equal(r.data?.sendMessage.clientMsgId, null);
  });

  it("userJoined and userLeft follow a socket.io user", async () => {
    // One subscription per connection: a connection's second subscription
    // of a room joins nothing, so nothing would tell when it is live.
    const room = uid("room");
    const jayID = uid("jay");
    const leeID = uid("lee");
    const bobID = uid("bob");
    const jay = await gqlUser(jayID);
    const joins = new Feed<{ userJoined: { room: string; user: { id: string } } }>(
      jay,
      `subscription($room: String!) { userJoined(room: $room) { room user { id name } } }`,
      { room },
    );
    await inRoom(jay, room, jayID);
    const lee = await gqlUser(leeID);
    const leaves = new Feed<{ userLeft: { room: string; user: { id: string } } }>(
      lee,
      `subscription($room: String!) { userLeft(room: $room) { room user { id } } }`,
      { room },
    );
    await inRoom(lee, room, leeID);
    const bob = await socketUser(bobID);
    await ack(bob, "joinRoom", { room });
    let j = (await joins.data("userJoined")).userJoined;
    assert.deepEqual([j.room, j.user.id], [room, leeID]);
    j = (await joins.data("userJoined")).userJoined;
    assert.deepEqual([j.room, j.user.id], [room, bobID]);
    await ack(bob, "leaveRoom", { room });
    const l = (await leaves.data("userLeft")).userLeft;
    assert.deepEqual([l.room, l.user.id], [room, bobID]);
  });

  it("status delivers the snapshot, then a socket.io user's changes", async () => {
    const watcher = await gqlUser(uid("w"));
    const erinID = uid("erin");
    type State = { status: { userId: string; status: string; isOnline: boolean } };
    const feed = new Feed<State>(
      watcher,
      `subscription($ids: [String!]) { status(userIds: $ids) { userId status isOnline } }`,
      { ids: [erinID] },
    );
    const snap = (await feed.data("the snapshot")).status;
    assert.deepEqual(snap, { userId: erinID, status: "offline", isOnline: false });
    const erin = io(`${server().url}/presence`, {
      forceNew: true,
      reconnection: false,
      transports: ["websocket"],
      auth: { token: sign({ sub: erinID, name: "Erin" }) },
    });
    sockets.push(erin);
    let st = (await feed.data("erin online")).status;
    assert.deepEqual([st.userId, st.status, st.isOnline], [erinID, "online", true]);
    await ack(erin, "setStatus", { status: "away" });
    do st = (await feed.data("erin away")).status;
    while (st.status === "online");
    assert.equal(st.status, "away");
  });

  it("setStatus over the connection reaches a status subscription", async () => {
    const watcher = await gqlUser(uid("w"));
    const fredID = uid("fred");
    const fred = await gqlUser(fredID);
    const feed = new Feed<{ status: { userId: string; status: string } }>(
      watcher,
      `subscription($ids: [String!]) { status(userIds: $ids) { userId status } }`,
      { ids: [fredID] },
    );
    assert.equal((await feed.data("the snapshot")).status.status, "online");
    const r = await once<{ setStatus: { status: string } }>(fred, `mutation { setStatus(status: busy) { status } }`);
    assert.equal(r.data?.setStatus.status, "busy", JSON.stringify(r));
    assert.equal((await feed.data("fred busy")).status.status, "busy");
  });

  it("errors carry the contract's code in extensions.code", async () => {
    const gina = await gqlUser(uid("gina"));
    const bad = await once(gina, `subscription { newChatMessage(room: "no spaces") { id } }`);
    assert.equal(bad.errors?.[0]?.extensions?.["code"], "bad_request", JSON.stringify(bad));
    const empty = await once(gina, `mutation { sendMessage(room: "lobby", content: "   ") { id } }`);
    assert.equal(empty.errors?.[0]?.extensions?.["code"], "bad_request", JSON.stringify(empty));
  });

  it("a refused token closes the connection with 4403 and no connection_ack", async () => {
    for (const params of [
      { token: "not-a-token" },
      { token: sign({ sub: "x" }, "another-secret-another-secret-xxxx") },
      { userId: "root", name: "Root" },
    ]) {
      const { closed, acked } = gqlClient(params);
      let wasAcked = false;
      void acked.then(() => (wasAcked = true));
      const e = await within(closed, WAIT_MS, "the close");
      assert.equal(e.code, 4403, JSON.stringify(e));
      assert.match(e.reason, /^unauthorized: /);
      assert.equal(wasAcked, false, "a refused connection was acknowledged");
    }
  });
});
