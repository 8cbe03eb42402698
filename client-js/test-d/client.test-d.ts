// Type-level tests of the client (checked by `tsc --noEmit`, never run): the
// generated contract types every emit, listener and helper, so a wrong
// payload does not compile. Each @ts-expect-error fails the type check when
// the line below it stops being an error.
import {
  createParleyClient,
  MAX_CONTENT_CHARS,
  MAX_WATCH_ITEMS,
  ROOM_NAME_PATTERN,
  type ChatMessage,
  type ParleyState,
  type PresenceState,
  type ReadableStore,
  type RoomState,
} from "../src/index.js";

/** Compiles only when A and B are the same type. */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
declare function expectTrue<T extends true>(): T;
declare function expectType<T>(value: T): void;

const client = createParleyClient({ url: "http://localhost:3000", token: "t" });

// The contract's limits are exported as literal consts.
expectTrue<Equal<typeof MAX_CONTENT_CHARS, 4000>>();
expectTrue<Equal<typeof MAX_WATCH_ITEMS, 100>>();
expectType<string>(ROOM_NAME_PATTERN);

// Helpers resolve with the contract's types.
expectTrue<Equal<Awaited<ReturnType<typeof client.send>>, ChatMessage>>();
expectTrue<Equal<Awaited<ReturnType<typeof client.join>>, RoomState>>();
expectTrue<Equal<Awaited<ReturnType<typeof client.setStatus>>, PresenceState>>();

// @ts-expect-error content must be a string
void client.send("room", 42);
// @ts-expect-error only online, away and busy may be chosen
void client.setStatus("offline");
// @ts-expect-error rooms is a list
void client.watch({ rooms: "lobby" });

// The raw sockets are typed by the generated event maps.
client.chat.emit("chatMessage", { room: "r", content: "x" }, (res) => {
  if (res.ok) expectType<ChatMessage>(res.data);
  else expectType<string>(res.error.code);
});
// @ts-expect-error room is a string
client.chat.emit("chatMessage", { room: 1, content: "x" }, () => {});
// @ts-expect-error chatMessage needs its ack callback
client.chat.emit("chatMessage", { room: "r", content: "x" });
// @ts-expect-error unknown fields are refused
client.chat.emit("joinRoom", { room: "r", password: "x" }, () => {});
// @ts-expect-error no such event
client.chat.emit("chatMesage", { room: "r", content: "x" }, () => {});
client.chat.on("newChatMessage", (m) => expectType<ChatMessage>(m));
// @ts-expect-error newChatMessage delivers a ChatMessage
client.chat.on("newChatMessage", (m: string) => void m);
// @ts-expect-error typing is a /chat event, not a /presence one
client.presence.emit("typing", { room: "r", isTyping: true });
client.presence.on("status", (st) => expectType<PresenceState>(st));

// The store plugs into React, Zustand and Redux as they are typed.
declare function useSyncExternalStore<T>(
  subscribe: (onStoreChange: () => void) => () => void,
  getSnapshot: () => T,
  getServerSnapshot?: () => T,
): T;
expectType<ParleyState>(
  useSyncExternalStore(client.store.subscribe, client.store.getState, client.store.getInitialState),
);

/** zustand/vanilla's ReadonlyStoreApi, which `useStore(api, selector)` takes. */
interface ZustandReadonlyStoreApi<T> {
  getState: () => T;
  getInitialState: () => T;
  subscribe: (listener: (state: T, prevState: T) => void) => () => void;
}
expectType<ZustandReadonlyStoreApi<ParleyState>>(client.store);

/** The read half of Redux's Store. */
interface ReduxReadable<S> {
  getState(): S;
  subscribe(listener: () => void): () => void;
}
expectType<ReduxReadable<ParleyState>>(client.store);

// The store is read-only to its users.
const store: ReadableStore<ParleyState> = client.store;
// @ts-expect-error there is no setter
store.update((s) => s);
// @ts-expect-error the state is readonly
store.getState().rooms = {};
