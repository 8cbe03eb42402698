// Reference encoder for notepack_test.go: reads one JSON case per line on
// stdin and writes, per line, what Node's @socket.io/redis-adapter would
// publish for it (hex of notepack.io's encode), and what a Node receiver
// would hand to socket.io-parser after notepack.io's decode (JSON with
// binary values as placeholders, as socket.io-parser deconstructs them).
//
// A case is {uid, nsp, json, buffers: [base64], rooms, except, volatile}
// to encode, or {hex} to decode.
"use strict";
const notepack = require("notepack.io");
const readline = require("node:readline");

function reconstruct(v, buffers) {
  if (Array.isArray(v)) return v.map((e) => reconstruct(e, buffers));
  if (v && typeof v === "object") {
    if (v._placeholder === true && typeof v.num === "number") return buffers[v.num];
    const out = {};
    for (const k of Object.keys(v)) out[k] = reconstruct(v[k], buffers);
    return out;
  }
  return v;
}

function deconstruct(v, buffers) {
  if (Buffer.isBuffer(v) || v instanceof ArrayBuffer) {
    buffers.push(Buffer.from(v).toString("base64"));
    return { _placeholder: true, num: buffers.length - 1 };
  }
  if (Array.isArray(v)) return v.map((e) => deconstruct(e, buffers));
  if (v && typeof v === "object" && !(v instanceof Date)) {
    const out = {};
    for (const k of Object.keys(v)) out[k] = deconstruct(v[k], buffers);
    return out;
  }
  return v;
}

const rl = readline.createInterface({ input: process.stdin });
rl.on("line", (line) => {
  const c = JSON.parse(line);
  if (c.hex !== undefined) {
    const v = notepack.decode(Buffer.from(c.hex, "hex"));
    const buffers = [];
    const json = JSON.stringify(deconstruct(v, buffers));
    process.stdout.write(JSON.stringify({ json, buffers }) + "\n");
    return;
  }
  const buffers = (c.buffers || []).map((b) => Buffer.from(b, "base64"));
  const data = JSON.parse(c.json);
  const packet = { type: 2, data: buffers.length ? reconstruct(data, buffers) : data };
  packet.nsp = c.nsp;
  const flags = c.volatile ? { volatile: true } : {};
  const opts = { rooms: [...new Set(c.rooms)], except: [...new Set(c.except)], flags };
  process.stdout.write(notepack.encode([c.uid, packet, opts]).toString("hex") + "\n");
});
