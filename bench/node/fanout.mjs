// Node reference server for Parley's bench contract (socket.io 4.8, default
// options: websocket + polling, perMessageDeflate off).
//
//   namespace /chat; handshake auth {room} joins that room on connect;
//   "message" (any args) is re-broadcast to the room, excluding the sender;
//   "echo" (any args, ack) is acked with the same args.
//
// Usage: node fanout.mjs [--port N] [--host H] [--redis-url URL]   (or PORT / HOST env)
// With --redis-url the server joins a cluster through @socket.io/redis-adapter
// (classic pub/sub, redis@4 clients), as Parley's fanout-server --redis-url.
// GET /healthz -> 200.
import { createServer } from "node:http";
import { Server } from "socket.io";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: {
    port: { type: "string", default: process.env.PORT ?? "3001" },
    host: { type: "string", default: process.env.HOST ?? "127.0.0.1" },
    "redis-url": { type: "string" },
  },
});

let adapter;
if (values["redis-url"]) {
  const { createAdapter } = await import("@socket.io/redis-adapter");
  const { createClient } = await import("redis");
  const pub = createClient({ url: values["redis-url"] });
  const sub = pub.duplicate();
  pub.on("error", (err) => console.error("redis pub:", err.message));
  sub.on("error", (err) => console.error("redis sub:", err.message));
  await Promise.all([pub.connect(), sub.connect()]);
  adapter = createAdapter(pub, sub);
}

const httpServer = createServer((req, res) => {
  if (req.url === "/healthz") {
    res.writeHead(200, { "content-type": "text/plain" });
    res.end("ok");
    return;
  }
  res.writeHead(404);
  res.end();
});

const io = new Server(httpServer, adapter ? { adapter } : {});

io.of("/chat").on("connection", (socket) => {
  const room = socket.handshake.auth?.room;
  if (typeof room === "string" && room !== "") socket.join(room);

  socket.on("message", (...args) => {
    if (typeof room === "string" && room !== "") {
      socket.to(room).emit("message", ...args);
    }
  });

  socket.on("echo", (...args) => {
    const ack = args.length > 0 ? args[args.length - 1] : undefined;
    if (typeof ack === "function") ack(...args.slice(0, -1));
  });
});

httpServer.listen(Number(values.port), values.host, () => {
  console.log(`node fanout listening on ${values.host}:${values.port}`);
});

function shutdown() {
  io.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 3000).unref();
}
process.on("SIGINT", shutdown);
process.on("SIGTERM", shutdown);
