#!/usr/bin/env node
// Reference implementation of the protocol test server contract
// (e2e/protocol/TESTSERVER.md) on Node's socket.io 4.8.
//
// The protocol suite must pass against this server: that is what proves each
// assertion in the suite is real Socket.IO behaviour. Keep it a literal
// transcription of TESTSERVER.md; do not add behaviour the contract lacks.

import { createServer } from "node:http";
import { parseArgs } from "node:util";
import { Server } from "socket.io";

const { values: flags } = parseArgs({
  options: {
    addr: { type: "string", default: "127.0.0.1:3000" },
    "ping-interval": { type: "string", default: "300" },
    "ping-timeout": { type: "string", default: "200" },
    "max-payload": { type: "string", default: "1000000" },
    "connect-timeout": { type: "string", default: "1000" },
    recovery: { type: "boolean", default: false },
    "allow-eio3": { type: "boolean", default: false },
  },
  strict: true,
  allowPositionals: false,
});

function intFlag(name) {
  const n = Number(flags[name]);
  if (!Number.isInteger(n) || n < 0) {
    console.error(`invalid --${name}: ${flags[name]}`);
    process.exit(2);
  }
  return n;
}

const addr = flags.addr;
const sep = addr.lastIndexOf(":");
if (sep < 0) {
  console.error(`invalid --addr: ${addr}`);
  process.exit(2);
}
const host = addr.slice(0, sep).replace(/^\[|\]$/g, "");
const port = Number(addr.slice(sep + 1));

const httpServer = createServer((req, res) => {
  if (req.url === "/healthz" && (req.method === "GET" || req.method === "HEAD")) {
    res.writeHead(200, { "Content-Type": "text/plain" });
    res.end("ok");
    return;
  }
  res.writeHead(404, { "Content-Type": "text/plain" });
  res.end("not found");
});

const io = new Server(httpServer, {
  pingInterval: intFlag("ping-interval"),
  pingTimeout: intFlag("ping-timeout"),
  maxHttpBufferSize: intFlag("max-payload"),
  connectTimeout: intFlag("connect-timeout"),
  cors: { origin: true, credentials: true },
  allowEIO3: flags["allow-eio3"],
  ...(flags.recovery
    ? {
        connectionStateRecovery: {
          maxDisconnectionDuration: 5000,
          skipMiddlewares: true,
        },
      }
    : {}),
});

const sorted = (iterable) => [...iterable].sort();

// ---- /observer -------------------------------------------------------------
const observer = io.of("/observer");

function observe(socket) {
  socket.on("disconnect", (reason) => {
    observer.emit("disconnected", { id: socket.id, nsp: socket.nsp.name, reason });
  });
}

// ---- / ----------------------------------------------------------------------
io.on("connection", (socket) => {
  observe(socket);

  socket.use((packet, next) => {
    if (packet[0] === "forbidden") {
      next(new Error("forbidden event"));
      return;
    }
    next();
  });
  socket.on("error", (err) => {
    socket.emit("packet-error", err.message);
  });

  socket.emit("auth", socket.handshake.auth);
  socket.emit("info", { id: socket.id, recovered: socket.recovered });

  socket.on("message", (...args) => {
    socket.emit("message-back", ...args);
  });

  socket.on("message-with-ack", (...args) => {
    if (typeof args[args.length - 1] !== "function") return;
    const ack = args.pop();
    ack(...args);
  });

  socket.on("join", (rooms, ack) => {
    socket.join(rooms);
    ack(sorted(socket.rooms));
  });

  socket.on("leave", (room, ack) => {
    socket.leave(room);
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

  socket.on("server-ask", (opts, ack) => {
    socket.timeout(opts.timeout).emit("ask", ...(opts.args ?? []), (err, ...res) => {
      ack(err ? { ok: false, error: err.message } : { ok: true, res });
    });
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

  socket.on("disconnect-me", (close) => {
    socket.disconnect(close);
  });

  socket.on("fetch-sockets", async (room, ack) => {
    const sockets = await (room ? io.in(room) : io).fetchSockets();
    ack(sorted(sockets.map((s) => s.id)));
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
});

// ---- /custom ----------------------------------------------------------------
io.of("/custom").on("connection", (socket) => {
  observe(socket);
  socket.emit("auth", socket.handshake.auth);
});

// ---- /mw ----------------------------------------------------------------------
const mw = io.of("/mw");
mw.use((socket, next) => {
  if (socket.handshake.auth?.token !== "secret") {
    const err = new Error("unauthorized");
    err.data = { code: "unauthorized", reason: "bad token" };
    next(err);
    return;
  }
  next();
});
mw.on("connection", (socket) => {
  observe(socket);
  socket.emit("auth", socket.handshake.auth);
});

// ---- /dyn-<digits> ------------------------------------------------------------
io.of(/^\/dyn-\d+$/).on("connection", (socket) => {
  observe(socket);
  socket.emit("nsp", socket.nsp.name);
});

httpServer.listen(port, host, () => {
  // The harness reads the bound address from this line (--addr may name port 0).
  console.log(`twin listening addr=${host}:${httpServer.address().port}`);
});

function shutdown() {
  io.close();
  httpServer.close();
  process.exit(0);
}
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);
