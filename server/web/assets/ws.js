// The /ws demo page's client: the browser's WebSocket speaking Parley's
// JSON frames ({type, data, id?}; see the README's "/ws" section). Written
// by hand, without a build step, to show how little a client needs.
"use strict";

const $ = (id) => document.getElementById(id);
let socket = null;
let room = "";
let nextId = 1;
const waiting = new Map(); // ack id -> resolve

function setStatus(status, text) {
  $("connection").dataset.status = status;
  $("connection").textContent = text;
}

// request sends an event with an id and resolves with its ack's Result.
function request(type, data) {
  const id = nextId++;
  return new Promise((resolve) => {
    waiting.set(id, resolve);
    socket.send(JSON.stringify({ type, data, id }));
  });
}

function show(msg) {
  const li = document.createElement("li");
  li.dataset.id = msg.id;
  const from = document.createElement("span");
  from.className = "from";
  from.textContent = msg.sender.name + ": ";
  const text = document.createElement("span");
  text.className = "text";
  text.textContent = msg.content;
  li.append(from, text);
  $("messages").append(li);
}

function connect(name) {
  const userId = name.toLowerCase().replace(/[^a-z0-9_-]/g, "-") + "-" + Math.random().toString(36).slice(2, 8);
  const url = new URL("/ws", location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  url.search = new URLSearchParams({ userId, name }).toString();
  setStatus("connecting", "connecting");
  socket = new WebSocket(url);
  socket.addEventListener("message", (ev) => {
    const frame = JSON.parse(ev.data);
    switch (frame.type) {
      case "info":
        setStatus("connected", `connected as ${frame.data.name}`);
        $("join-form").hidden = false;
        break;
      case "ack":
        waiting.get(frame.id)?.(frame.data);
        waiting.delete(frame.id);
        break;
      case "error":
        $("error").textContent = `${frame.data.code}: ${frame.data.message}`;
        break;
      case "newChatMessage":
        if (frame.data.room === room) show(frame.data);
        break;
    }
  });
  socket.addEventListener("close", () => setStatus("disconnected", "disconnected"));
}

$("signin-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  $("signin-form").hidden = true;
  connect($("signin-name").value.trim());
});

$("join-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const res = await request("joinRoom", { room: $("room-name").value });
  if (!res.ok) {
    $("error").textContent = `${res.error.code}: ${res.error.message}`;
    return;
  }
  room = res.data.room;
  $("messages").replaceChildren();
  res.data.history.forEach(show);
  $("composer").hidden = false;
  setStatus("connected", `in #${room}`);
});

$("composer").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const input = $("message-text");
  const res = await request("chatMessage", { room, content: input.value, clientMsgId: crypto.randomUUID() });
  if (!res.ok) {
    $("error").textContent = `${res.error.code}: ${res.error.message}`;
    return;
  }
  input.value = "";
  show(res.data); // the sender gets its message in the ack, not as newChatMessage
});
