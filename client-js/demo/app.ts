// The demo chat page served by parley at / (server/web/index.html). It uses
// only @parley/client and the DOM: sign in with a name, join rooms, send,
// read history, typing indicators, who is online, the transport in use.
// `/?transport=polling` (or `websocket`) forces one transport.
//
// Built into server/web/assets/app.js by `npm run build:demo -w client-js`.

import {
  createParleyClient,
  MAX_IDENTITY_CHARS,
  ParleyError,
  type ParleyClient,
  type ParleyClientOptions,
  type ParleyState,
  type PresenceState,
  type RoomState,
  type Transport,
  type UserRef,
  type UserStatus,
} from "../src/index.js";

const $ = <T extends HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (el === null) throw new Error(`#${id} is missing from the page`);
  return el as T;
};

function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  el.append(...children);
  return el;
}

/** A user id derived from a display name, for the dev identity. */
function slug(name: string): string {
  const s = name
    .trim()
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-|-$/g, "");
  return (s || "user").slice(0, MAX_IDENTITY_CHARS);
}

function transportsFromQuery(): Transport[] | undefined {
  const t = new URLSearchParams(location.search).get("transport");
  return t === "polling" || t === "websocket" ? [t] : undefined;
}

/** A token from the server's dev endpoint (dev mode only), or undefined when it has none. */
async function devToken(name: string): Promise<string | undefined> {
  try {
    const res = await fetch(`/api/dev/token?name=${encodeURIComponent(name)}`);
    if (!res.ok) return undefined;
    const body = (await res.json()) as { token?: unknown };
    return typeof body.token === "string" ? body.token : undefined;
  } catch {
    return undefined;
  }
}

/**
 * How to identify: tokens from the dev endpoint when the server offers them
 * (a function, so the client fetches a fresh one to refresh or reconnect),
 * else the dev handshake identity.
 */
async function credentials(name: string): Promise<Pick<ParleyClientOptions, "token" | "identity">> {
  let first = await devToken(name);
  if (first === undefined) return { identity: { userId: slug(name), name: name.trim() } };
  return {
    token: async () => {
      const t = first ?? (await devToken(name));
      first = undefined;
      if (t === undefined) throw new Error("no dev token");
      return t;
    },
  };
}

const SESSION_KEY = "parley.demo";
interface Session {
  name: string;
  rooms: string[];
  current: string | null;
}

function loadSession(): Session | null {
  try {
    const s = JSON.parse(sessionStorage.getItem(SESSION_KEY) ?? "null") as Session | null;
    return s && typeof s.name === "string" ? s : null;
  } catch {
    return null;
  }
}

class App {
  readonly #client: ParleyClient;
  #current: string | null = null;
  /** Messages per room when it was last viewed, for unread counts. */
  readonly #read = new Map<string, number>();
  #rendered: { room: RoomState | undefined; presence: ParleyState["presence"] | undefined } = {
    room: undefined,
    presence: undefined,
  };
  #scheduled = false;

  constructor(client: ParleyClient, session: Session) {
    this.#client = client;
    this.#bind();
    client.store.subscribe(() => this.#schedule());
    for (const room of session.rooms) void this.join(room, room === session.current);
    this.#schedule();
  }

  #bind(): void {
    $("join-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const input = $<HTMLInputElement>("room-name");
      const room = input.value.trim();
      if (room === "") return;
      input.value = "";
      void this.join(room, true);
    });
    const box = $<HTMLTextAreaElement>("message");
    $("composer").addEventListener("submit", (e) => {
      e.preventDefault();
      this.#send();
    });
    box.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        this.#send();
      }
    });
    box.addEventListener("input", () => {
      if (this.#current === null) return;
      if (box.value.trim() === "") this.#client.stopTyping(this.#current);
      else this.#client.typing(this.#current);
    });
    box.addEventListener("blur", () => {
      if (this.#current !== null) this.#client.stopTyping(this.#current);
    });
    $("leave-room").addEventListener("click", () => {
      const room = this.#current;
      if (room === null) return;
      void this.#client.leave(room).catch((e: unknown) => this.alert(e));
      this.#select(Object.keys(this.#client.store.getState().rooms).find((r) => r !== room) ?? null);
    });
    $("load-older").addEventListener("click", () => {
      const room = this.#current === null ? undefined : this.#client.store.getState().rooms[this.#current];
      const first = room?.messages[0];
      if (room === undefined || first === undefined) return;
      void this.#client.history(room.name, { before: first.id }).catch((e: unknown) => this.alert(e));
    });
    $<HTMLSelectElement>("my-status").addEventListener("change", (e) => {
      const status = (e.target as HTMLSelectElement).value as UserStatus;
      void this.#client.setStatus(status).catch((err: unknown) => this.alert(err));
    });
    $("alert-close").addEventListener("click", () => ($("alert").hidden = true));
    document.addEventListener("keydown", (e) => {
      if (e.key === "Escape") $("alert").hidden = true;
      if (e.altKey && (e.key === "ArrowUp" || e.key === "ArrowDown")) {
        const rooms = Object.keys(this.#client.store.getState().rooms).sort();
        if (rooms.length === 0) return;
        const i = this.#current === null ? -1 : rooms.indexOf(this.#current);
        const next = rooms[(i + (e.key === "ArrowUp" ? rooms.length - 1 : 1)) % rooms.length] ?? null;
        e.preventDefault();
        this.#select(next);
        $("message").focus();
      }
    });
  }

  async join(room: string, select: boolean): Promise<void> {
    if (select) this.#select(room);
    try {
      await this.#client.join(room);
    } catch (e) {
      if (this.#current === room) this.#select(Object.keys(this.#client.store.getState().rooms)[0] ?? null);
      this.alert(e, `Cannot join ${room}`);
    }
  }

  #send(): void {
    const box = $<HTMLTextAreaElement>("message");
    const room = this.#current;
    if (room === null || box.value.trim() === "") return;
    const text = box.value;
    box.value = "";
    this.#client.send(room, text).catch((e: unknown) => this.alert(e, "Message not sent"));
  }

  #select(room: string | null): void {
    this.#current = room;
    this.#rendered = { room: undefined, presence: undefined };
    this.#schedule();
  }

  alert(e: unknown, prefix?: string): void {
    const text = e instanceof ParleyError ? `${e.code}: ${e.message}` : e instanceof Error ? e.message : String(e);
    $("alert-text").textContent = prefix === undefined ? text : `${prefix} — ${text}`;
    $("alert").hidden = false;
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    queueMicrotask(() => {
      this.#scheduled = false;
      this.#render(this.#client.store.getState());
    });
  }

  #render(s: ParleyState): void {
    if (this.#current !== null && !(this.#current in s.rooms)) {
      this.#current = Object.keys(s.rooms)[0] ?? null;
    }
    this.#saveSession(s);
    $("me").textContent = s.self === null ? "" : `Signed in as ${s.self.name}`;
    const conn = $("connection");
    conn.dataset["status"] = s.connection.status;
    conn.textContent =
      s.connection.error && s.connection.status === "disconnected"
        ? `disconnected (${s.connection.error.code}: ${s.connection.error.message})`
        : s.connection.status;
    $("transport").textContent = s.connection.transport ?? "–";
    const mine = s.self === null ? undefined : s.presence[s.self.id];
    const pick = $<HTMLSelectElement>("my-status");
    if (mine !== undefined && mine.status !== "offline" && document.activeElement !== pick) pick.value = mine.status;

    const room = this.#current === null ? undefined : s.rooms[this.#current];
    if (room !== undefined) this.#read.set(room.name, room.messages.length);
    this.#renderRoomList(s);
    if (room !== this.#rendered.room || s.presence !== this.#rendered.presence) {
      this.#renderRoom(room, s);
      this.#renderPeople(room, s);
      this.#rendered = { room, presence: s.presence };
    }
  }

  #saveSession(s: ParleyState): void {
    if (s.self === null) return;
    const session: Session = { name: s.self.name, rooms: Object.keys(s.rooms), current: this.#current };
    sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
  }

  #renderRoomList(s: ParleyState): void {
    const list = $("room-list");
    list.replaceChildren(
      ...Object.values(s.rooms)
        .sort((a, b) => a.name.localeCompare(b.name))
        .map((r) => {
          // The history a first join loads is not news: count from its end.
          if (!this.#read.has(r.name) && r.status === "joined") this.#read.set(r.name, r.messages.length);
          const read = this.#read.get(r.name);
          const unread = r.name === this.#current || read === undefined ? 0 : Math.max(0, r.messages.length - read);
          const btn = h("button", { type: "button", "data-room": r.name }, h("span", {}, `# ${r.name}`));
          if (r.status === "joining") btn.append(h("span", { class: "muted" }, "…"));
          if (unread > 0) btn.append(h("span", { class: "badge", "aria-label": `${unread} unread` }, String(unread)));
          if (r.name === this.#current) btn.setAttribute("aria-current", "true");
          btn.addEventListener("click", () => {
            this.#select(r.name);
            $("message").focus();
          });
          return h("li", {}, btn);
        }),
    );
  }

  #renderRoom(room: RoomState | undefined, s: ParleyState): void {
    $("room-title").textContent =
      room === undefined ? "No room" : `# ${room.name}${room.status === "joining" ? " (joining…)" : ""}`;
    $("leave-room").hidden = room === undefined;
    $("load-older").hidden = room === undefined || !room.hasOlder;
    $("empty").hidden = room !== undefined;
    const box = $<HTMLTextAreaElement>("message");
    box.disabled = room === undefined;
    $<HTMLButtonElement>("send").disabled = room === undefined;

    const scroller = $("scroller");
    const atBottom = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 40;
    const items: HTMLElement[] = [];
    for (const m of room?.messages ?? []) {
      items.push(this.#message(m.sender, m.content, m.timestamp, s.self, { "data-message-id": m.id }));
    }
    for (const p of room?.pending ?? []) {
      const li = this.#message(s.self ?? { id: "", name: "me" }, p.content, undefined, s.self, {
        "data-client-msg-id": p.clientMsgId,
        "data-state": p.status,
      });
      if (p.status === "failed") {
        const dismiss = h("button", { type: "button", class: "link" }, "dismiss");
        dismiss.addEventListener("click", () => this.#client.dismiss(p.room, p.clientMsgId));
        li.append(h("div", { class: "state" }, `not sent: ${p.error?.message ?? "failed"} `, dismiss));
      } else {
        li.append(
          h("div", { class: "state muted" }, p.status === "sending" ? "sending…" : "waiting for the connection…"),
        );
      }
      items.push(li);
    }
    $("messages").replaceChildren(...items);
    if (atBottom) scroller.scrollTop = scroller.scrollHeight;

    const typing = room?.typing ?? [];
    $("typing").textContent =
      typing.length === 0
        ? ""
        : typing.length === 1
          ? `${typing[0]!.name} is typing…`
          : typing.length === 2
            ? `${typing[0]!.name} and ${typing[1]!.name} are typing…`
            : "Several people are typing…";
  }

  #message(
    sender: UserRef,
    content: string,
    timestamp: number | undefined,
    self: UserRef | null,
    attrs: Record<string, string>,
  ): HTMLLIElement {
    const time =
      timestamp === undefined ? "" : new Date(timestamp).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    return h(
      "li",
      { class: sender.id === self?.id ? "msg mine" : "msg", ...attrs },
      h("header", {}, h("span", { class: "who" }, sender.name), h("time", {}, time)),
      h("div", { class: "text" }, content),
    );
  }

  #renderPeople(room: RoomState | undefined, s: ParleyState): void {
    const people = room?.seen ?? [];
    $("people").replaceChildren(
      ...people.map((u) => {
        const status = displayStatus(u, room!, s.presence[u.id]);
        return h(
          "li",
          { class: "person", "data-user-id": u.id, "data-status": status },
          h("span", { class: "dot", "aria-hidden": "true" }),
          h("span", { class: "name" }, u.id === s.self?.id ? `${u.name} (you)` : u.name),
          h("span", { class: "status" }, status),
        );
      }),
    );
  }
}

/** A person's status as shown: presence when known, else whether they are in the room. */
function displayStatus(u: UserRef, room: RoomState, p: PresenceState | undefined): string {
  if (p !== undefined) return p.status;
  return room.members.some((m) => m.id === u.id) ? "online" : "offline";
}

async function start(session: Session): Promise<void> {
  const creds = await credentials(session.name);
  const transports = transportsFromQuery();
  const client = createParleyClient({ url: location.origin, ...creds, ...(transports && { transports }) });
  $("signin").hidden = true;
  $("app").hidden = false;
  new App(client, session);
  $("room-name").focus();
}

function main(): void {
  const saved = loadSession();
  if (saved !== null) {
    void start(saved);
    return;
  }
  $("signin-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const name = $<HTMLInputElement>("signin-name").value.trim();
    if (name === "") {
      $("signin-error").textContent = "Enter a name.";
      return;
    }
    void start({ name, rooms: [], current: null }).catch((err: unknown) => {
      $("signin-error").textContent = err instanceof Error ? err.message : String(err);
    });
  });
}

main();
