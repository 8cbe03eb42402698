// What a Node user would build for Parley's /chat (issue 3 reference):
// socket.io 4.8 + better-sqlite3 12 (WAL, synchronous=NORMAL).
//
//   handshake auth {userId, name}
//   joinRoom({room}, ack)   -> joins; acks {ok:true, data:{room, members, history}}
//                              (history = latest 50 messages, oldest first)
//   chatMessage({room, content, clientMsgId?}, ack)
//                           -> inserts, acks {ok:true, data:msg}, then
//                              socket.to(room).emit("newChatMessage", msg)
//   msg = {id, room, sender:{id,name}, content, timestamp, clientMsgId?}
//
// Usage: node chat.mjs [--port N] [--host H] [--db FILE]  (or PORT/HOST/DB env)
//                      [--database-url postgres://...] [--redis-url redis://...]
// GET /healthz -> 200.
//
// The cluster reference (issue 12 §5): --database-url stores the messages in
// PostgreSQL with the `pg` pool (10 connections, one INSERT per message,
// acked after its commit) instead of SQLite; --redis-url joins a cluster
// through @socket.io/redis-adapter (classic pub/sub), so the members of a
// room on every node get newChatMessage. A Node user's cluster, as Parley's
// `--redis-url --database-url`.
import { createServer } from "node:http";
import { randomBytes } from "node:crypto";
import { parseArgs } from "node:util";
import { Server } from "socket.io";

const { values } = parseArgs({
  options: {
    port: { type: "string", default: process.env.PORT ?? "3003" },
    host: { type: "string", default: process.env.HOST ?? "127.0.0.1" },
    db: { type: "string", default: process.env.DB ?? "chat-bench.db" },
    "database-url": { type: "string" },
    "redis-url": { type: "string" },
  },
});

const MAX_ROOM = 64;
const MAX_CONTENT = 4000;
const HISTORY = 50;

// store: insert(row) makes the message durable; latest(room) gives the
// newest HISTORY rows, newest first. SQLite answers synchronously (as the
// single-node reference always did: no await on its path), PostgreSQL with
// promises.
const store = values["database-url"] ? await postgresStore(values["database-url"]) : await sqliteStore(values.db);

async function sqliteStore(file) {
  const { default: Database } = await import("better-sqlite3");
  const db = new Database(file);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = NORMAL");
  db.exec(`
    CREATE TABLE IF NOT EXISTS messages (
      seq INTEGER PRIMARY KEY AUTOINCREMENT,
      id TEXT NOT NULL UNIQUE,
      room TEXT NOT NULL,
      sender_id TEXT NOT NULL,
      sender_name TEXT NOT NULL,
      content TEXT NOT NULL,
      ts INTEGER NOT NULL,
      client_msg_id TEXT
    );
    CREATE INDEX IF NOT EXISTS messages_room_seq ON messages (room, seq);
  `);
  const insert = db.prepare(
    `INSERT INTO messages (id, room, sender_id, sender_name, content, ts, client_msg_id)
     VALUES (@id, @room, @senderId, @senderName, @content, @timestamp, @clientMsgId)`,
  );
  const latest = db.prepare(
    `SELECT id, room, sender_id, sender_name, content, ts, client_msg_id
     FROM messages WHERE room = ? ORDER BY seq DESC LIMIT ${HISTORY}`,
  );
  return {
    insert: (row) => void insert.run(row),
    latest: (room) => latest.all(room),
    close: async () => db.close(),
  };
}

async function postgresStore(url) {
  const { default: pg } = await import("pg");
  const pool = new pg.Pool({ connectionString: url, max: 10 });
  pool.on("error", (err) => console.error("pg pool:", err.message));
  await pool.query(`
    CREATE TABLE IF NOT EXISTS node_messages (
      seq BIGSERIAL PRIMARY KEY,
      id TEXT NOT NULL UNIQUE,
      room TEXT NOT NULL,
      sender_id TEXT NOT NULL,
      sender_name TEXT NOT NULL,
      content TEXT NOT NULL,
      ts BIGINT NOT NULL,
      client_msg_id TEXT
    );
    CREATE INDEX IF NOT EXISTS node_messages_room_seq ON node_messages (room, seq);
  `);
  return {
    insert: async (r) => {
      await pool.query(
        `INSERT INTO node_messages (id, room, sender_id, sender_name, content, ts, client_msg_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7)`,
        [r.id, r.room, r.senderId, r.senderName, r.content, r.timestamp, r.clientMsgId],
      );
    },
    latest: async (room) => {
      const res = await pool.query(
        `SELECT id, room, sender_id, sender_name, content, ts, client_msg_id
         FROM node_messages WHERE room = $1 ORDER BY seq DESC LIMIT ${HISTORY}`,
        [room],
      );
      return res.rows.map((r) => ({ ...r, ts: Number(r.ts) }));
    },
    close: () => pool.end(),
  };
}

// uuidv7: 48-bit unix ms timestamp, version 7, variant 10, random rest.
function uuidv7() {
  const b = randomBytes(16);
  const ms = BigInt(Date.now());
  for (let i = 0; i < 6; i++) b[i] = Number((ms >> BigInt(8 * (5 - i))) & 0xffn);
  b[6] = (b[6] & 0x0f) | 0x70;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = b.toString("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function rowToMsg(r) {
  const m = {
    id: r.id,
    room: r.room,
    sender: { id: r.sender_id, name: r.sender_name },
    content: r.content,
    timestamp: r.ts,
  };
  if (r.client_msg_id != null) m.clientMsgId = r.client_msg_id;
  return m;
}

const fail = (code, message) => ({ ok: false, error: { code, message } });
const validRoom = (room) => typeof room === "string" && room.length > 0 && room.length <= MAX_ROOM;

const httpServer = createServer((req, res) => {
  if (req.url === "/healthz") {
    res.writeHead(200, { "content-type": "text/plain" });
    res.end("ok");
    return;
  }
  res.writeHead(404);
  res.end();
});
const io = new Server(httpServer);
if (values["redis-url"]) {
  const { createAdapter } = await import("@socket.io/redis-adapter");
  const { createClient } = await import("redis");
  const pub = createClient({ url: values["redis-url"] });
  const sub = pub.duplicate();
  pub.on("error", (err) => console.error("redis pub:", err.message));
  sub.on("error", (err) => console.error("redis sub:", err.message));
  await Promise.all([pub.connect(), sub.connect()]);
  io.adapter(createAdapter(pub, sub));
}
const chat = io.of("/chat");

chat.use((socket, next) => {
  const { userId, name } = socket.handshake.auth ?? {};
  if (typeof userId !== "string" || userId === "" || typeof name !== "string" || name === "") {
    next(new Error("unauthorized"));
    return;
  }
  socket.data.user = { id: userId, name };
  next();
});

chat.on("connection", (socket) => {
  const user = socket.data.user;

  socket.on("joinRoom", async (payload, ack) => {
    if (typeof ack !== "function") return;
    const room = payload?.room;
    if (!validRoom(room)) {
      ack(fail("invalid_room", "room must be 1-64 characters"));
      return;
    }
    socket.join(room);
    const members = [];
    const seen = new Set();
    for (const sid of chat.adapter.rooms.get(room) ?? []) {
      const u = chat.sockets.get(sid)?.data.user;
      if (u && !seen.has(u.id)) {
        seen.add(u.id);
        members.push(u);
      }
    }
    let rows;
    try {
      rows = store.latest(room);
      if (rows instanceof Promise) rows = await rows;
    } catch (err) {
      console.error("history failed", err);
      ack(fail("internal", "internal error"));
      return;
    }
    const history = rows.reverse().map(rowToMsg);
    ack({ ok: true, data: { room, members, history } });
  });

  socket.on("chatMessage", async (payload, ack) => {
    if (typeof ack !== "function") return;
    const { room, content, clientMsgId } = payload ?? {};
    if (!validRoom(room)) {
      ack(fail("invalid_room", "room must be 1-64 characters"));
      return;
    }
    if (!socket.rooms.has(room)) {
      ack(fail("not_in_room", "join the room first"));
      return;
    }
    if (typeof content !== "string" || content === "" || content.length > MAX_CONTENT) {
      ack(fail("invalid_content", "content must be 1-4000 characters"));
      return;
    }
    const msg = {
      id: uuidv7(),
      room,
      sender: { id: user.id, name: user.name },
      content,
      timestamp: Date.now(),
    };
    if (typeof clientMsgId === "string") msg.clientMsgId = clientMsgId;
    try {
      const done = store.insert({
        id: msg.id,
        room,
        senderId: user.id,
        senderName: user.name,
        content,
        timestamp: msg.timestamp,
        clientMsgId: msg.clientMsgId ?? null,
      });
      if (done) await done;
    } catch (err) {
      console.error("insert failed", err);
      ack(fail("internal", "internal error"));
      return;
    }
    ack({ ok: true, data: msg });
    socket.to(room).emit("newChatMessage", msg);
  });
});

httpServer.listen(Number(values.port), values.host, () => {
  const where = values["database-url"] ? "postgres" : `db ${values.db}`;
  console.log(
    `node chat listening on ${values.host}:${values.port} (${where}${values["redis-url"] ? ", redis adapter" : ""})`,
  );
});

function shutdown() {
  io.close(() => {
    Promise.resolve(store.close()).finally(() => process.exit(0));
  });
  setTimeout(() => process.exit(0), 3000).unref();
}
process.on("SIGINT", shutdown);
process.on("SIGTERM", shutdown);
