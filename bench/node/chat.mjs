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
// GET /healthz -> 200.
import { createServer } from "node:http";
import { randomBytes } from "node:crypto";
import { parseArgs } from "node:util";
import Database from "better-sqlite3";
import { Server } from "socket.io";

const { values } = parseArgs({
  options: {
    port: { type: "string", default: process.env.PORT ?? "3003" },
    host: { type: "string", default: process.env.HOST ?? "127.0.0.1" },
    db: { type: "string", default: process.env.DB ?? "chat-bench.db" },
  },
});

const MAX_ROOM = 64;
const MAX_CONTENT = 4000;
const HISTORY = 50;

const db = new Database(values.db);
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

  socket.on("joinRoom", (payload, ack) => {
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
    const history = latest.all(room).reverse().map(rowToMsg);
    ack({ ok: true, data: { room, members, history } });
  });

  socket.on("chatMessage", (payload, ack) => {
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
      insert.run({
        id: msg.id,
        room,
        senderId: user.id,
        senderName: user.name,
        content,
        timestamp: msg.timestamp,
        clientMsgId: msg.clientMsgId ?? null,
      });
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
  console.log(`node chat listening on ${values.host}:${values.port} (db ${values.db})`);
});

function shutdown() {
  io.close(() => {
    db.close();
    process.exit(0);
  });
  setTimeout(() => process.exit(0), 3000).unref();
}
process.on("SIGINT", shutdown);
process.on("SIGTERM", shutdown);
