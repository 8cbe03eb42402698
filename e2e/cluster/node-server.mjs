#!/usr/bin/env node
// The Node side of the mixed cluster suite: socket.io 4.8 with
// @socket.io/redis-adapter 8.x (classic pub/sub, redis@4 clients), serving
// the "/" operations of e2e/protocol/TESTSERVER.md that the cluster suite
// uses plus its cluster additions. e2e/testserver --redis-url is the Parley
// side of the same contract.
//
// Flags: --addr host:port (port 0: any; the bound address is printed as
// "listening host:port"), --redis-url, --redis-prefix, --name.

import { createServer } from "node:http";
import { parseArgs } from "node:util";
import { Server } from "socket.io";
import { createAdapter } from "@socket.io/redis-adapter";
import { createClient } from "redis";

const { values: flags } = parseArgs({
  options: {
    addr: { type: "string", default: "127.0.0.1:0" },
    "redis-url": { type: "string" },
    "redis-prefix": { type: "string", default: "socket.io" },
    name: { type: "string", default: "node" },
  },
  strict: true,
  allowPositionals: false,
});

const sep = flags.addr.lastIndexOf(":");
const host = flags.addr.slice(0, sep);
const port = Number(flags.addr.slice(sep + 1));

const pub = createClient({ url: flags["redis-url"] });
const sub = pub.duplicate();
pub.on("error", (err) => console.error("redis pub:", err.message));
sub.on("error", (err) => console.error("redis sub:", err.message));
await Promise.all([pub.connect(), sub.connect()]);

const httpServer = createServer((req, res) => {
  res.writeHead(req.url === "/healthz" ? 200 : 404, { "Content-Type": "text/plain" });
  res.end(req.url === "/healthz" ? "ok" : "not found");
});
const io = new Server(httpServer, {
  pingInterval: 1000,
  pingTimeout: 2000,
  cors: { origin: true, credentials: true },
  adapter: createAdapter(pub, sub, { key: flags["redis-prefix"], requestsTimeout: 2000 }),
});
const sorted = (iterable) => [...iterable].sort();
const root = io.of("/");

root.on("cluster-hello", (...args) => {
  const cb = typeof args[args.length - 1] === "function" ? args.pop() : undefined;
  io.local.emit("server-side", ...args);
  cb?.({ node: flags.name });
});

// /chat: a socket joins the rooms its auth names, as a Node app's chat
// namespace would, and so gets what any node broadcasts to them (Parley's
// newChatMessage included).
io.of("/chat").on("connection", (socket) => {
  socket.join(socket.handshake.auth?.rooms ?? []);
  socket.on("rooms", (ack) => ack(sorted(socket.rooms)));
});

root.on("connection", (socket) => {
  socket.data = socket.handshake.auth?.data ?? {};
  socket.emit("info", { id: socket.id, recovered: socket.recovered });

  socket.on("join", (rooms, ack) => {
    socket.join(rooms);
    ack(sorted(socket.rooms));
  });

  socket.on("emit-to", (opts, ack) => {
    let op = opts.excludeSelf ? socket.broadcast : io.of("/");
    if (opts.to) op = op.to(opts.to);
    if (opts.except) op = op.except(opts.except);
    if (opts.volatile) op = op.volatile;
    op.emit(opts.event, ...(opts.args ?? []));
    ack("ok");
  });

  socket.on("broadcast-ask", (opts, ack) => {
    const op = opts.room ? io.to(opts.room) : io;
    op.timeout(opts.timeout).emit("ask", ...(opts.args ?? []), (err, responses) => {
      ack({
        error: err ? err.message : null,
        responses: responses.map((r) => JSON.stringify(r)).sort(),
      });
    });
  });

  socket.on("fetch-sockets", async (room, ack) => {
    const sockets = await (room ? io.in(room) : io).fetchSockets();
    ack(sorted(sockets.map((s) => s.id)));
  });

  socket.on("fetch-sockets-full", async (room, ack) => {
    try {
      const sockets = await (room ? io.in(room) : io).fetchSockets();
      const out = sockets
        .map((s) => ({ id: s.id, rooms: sorted(s.rooms), data: s.data, handshake: s.handshake }))
        .sort((a, b) => (a.id < b.id ? -1 : 1));
      ack({ error: null, sockets: out });
    } catch (err) {
      ack({ error: err.message, sockets: [] });
    }
  });

  socket.on("sockets-join", (opts, ack) => {
    (opts.target ? io.in(opts.target) : io).socketsJoin(opts.room);
    ack("ok");
  });

  socket.on("sockets-leave", (opts, ack) => {
    (opts.target ? io.in(opts.target) : io).socketsLeave(opts.room);
    ack("ok");
  });

  socket.on("disconnect-sockets", (opts) => {
    (opts.room ? io.in(opts.room) : io).disconnectSockets(opts.close);
  });

  socket.on("server-count", async (ack) => {
    ack(await root.adapter.serverCount());
  });

  socket.on("server-side-emit", async (opts, ack) => {
    if (!opts.withAck) {
      io.serverSideEmit("cluster-hello", ...(opts.args ?? []));
      ack("ok");
      return;
    }
    try {
      const responses = await io.serverSideEmitWithAck("cluster-hello", ...(opts.args ?? []));
      ack({ error: null, responses });
    } catch (err) {
      ack({ error: err.message, responses: [] });
    }
  });
});

httpServer.listen(port, host, () => {
  const a = httpServer.address();
  console.log(`listening ${a.address}:${a.port}`);
});

const stop = () => {
  io.close(() => {
    Promise.allSettled([pub.quit(), sub.quit()]).then(() => process.exit(0));
  });
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
