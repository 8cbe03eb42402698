#!/usr/bin/env node
// Node twin of `parley conformance`: the server profile the public Socket.IO
// and Engine.IO protocol test suites expect, on socket.io 4.8 and engine.io.
//
//   /socket.io/  Socket.IO: namespaces "/" and "/custom"; every connect emits
//                "auth" with the CONNECT auth object; on "/", "message" is
//                echoed as "message-back" and "message-with-ack" is acked
//                with its own arguments.
//   /engine.io/  a bare Engine.IO v4 server that sends every message back.
//   /healthz     200 "ok" (readiness probe of the test harness).
//
// Both engines: pingInterval 300 ms, pingTimeout 200 ms, maxPayload 1e6,
// CORS open; Socket.IO: connectTimeout 1000 ms, no connection state recovery.
// The conformance suite must pass against this server: that is what proves
// each assertion is real Node behaviour. Keep it a literal transcription of
// the profile above.
//
// Usage: node twin.mjs --addr 127.0.0.1:3000   (or --port 3000)

import { createServer } from "node:http";
import { parseArgs } from "node:util";
import { Server as Engine } from "engine.io";
import { Server } from "socket.io";

const { values: flags } = parseArgs({
  options: {
    addr: { type: "string" },
    port: { type: "string" },
  },
  strict: true,
  allowPositionals: false,
});

function listenAddress() {
  if (flags.addr !== undefined && flags.port !== undefined) fail("give --addr or --port, not both");
  if (flags.port !== undefined) return { host: "127.0.0.1", port: portNumber(flags.port) };
  const addr = flags.addr ?? "127.0.0.1:3000";
  const sep = addr.lastIndexOf(":");
  if (sep < 0) fail(`invalid --addr: ${addr}`);
  return { host: addr.slice(0, sep).replace(/^\[|\]$/g, ""), port: portNumber(addr.slice(sep + 1)) };
}

function portNumber(s) {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 0 || n > 65535) fail(`invalid port: ${s}`);
  return n;
}

function fail(msg) {
  console.error(msg);
  process.exit(2);
}

const engineOptions = {
  pingInterval: 300,
  pingTimeout: 200,
  maxHttpBufferSize: 1_000_000,
  cors: { origin: true, credentials: true },
};

// ---- /socket.io/ ---------------------------------------------------------------
const io = new Server({ connectTimeout: 1000, serveClient: false });
const sioEngine = new Engine({ ...engineOptions, path: "/socket.io/" });
io.bind(sioEngine);

io.on("connection", (socket) => {
  socket.emit("auth", socket.handshake.auth);

  socket.on("message", (...args) => {
    socket.emit("message-back", ...args);
  });

  socket.on("message-with-ack", (...args) => {
    if (typeof args[args.length - 1] !== "function") return;
    const ack = args.pop();
    ack(...args);
  });
});

io.of("/custom").on("connection", (socket) => {
  socket.emit("auth", socket.handshake.auth);
});

// ---- /engine.io/ ---------------------------------------------------------------
const echoEngine = new Engine({ ...engineOptions, path: "/engine.io/" });
echoEngine.on("connection", (socket) => {
  socket.on("message", (data) => socket.send(data));
});

// ---- HTTP -----------------------------------------------------------------------
function engineFor(req) {
  const path = new URL(req.url ?? "/", "http://localhost").pathname;
  if (path === "/socket.io/") return sioEngine;
  if (path === "/engine.io/") return echoEngine;
  return undefined;
}

const httpServer = createServer((req, res) => {
  const engine = engineFor(req);
  if (engine) {
    engine.handleRequest(req, res);
    return;
  }
  if (req.url === "/healthz" && (req.method === "GET" || req.method === "HEAD")) {
    res.writeHead(200, { "Content-Type": "text/plain" });
    res.end("ok");
    return;
  }
  res.writeHead(404, { "Content-Type": "text/plain" });
  res.end("not found");
});

httpServer.on("upgrade", (req, socket, head) => {
  const engine = engineFor(req);
  if (engine) {
    engine.handleUpgrade(req, socket, head);
    return;
  }
  socket.destroy();
});

const { host, port } = listenAddress();
httpServer.listen(port, host, () => {
  console.log(`conformance twin listening on ${host}:${httpServer.address().port}`);
});

function shutdown() {
  io.close();
  echoEngine.close();
  httpServer.close();
  process.exit(0);
}
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);
