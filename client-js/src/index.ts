// @parley/client: a typed client for Parley on socket.io-client v4.
export { createParleyClient } from "./client.js";
export { toParleyError } from "./connection.js";
export { refreshDelayMs, userFromToken } from "./token.js";
export type {
  ChatSocket,
  DevIdentity,
  HistoryQuery,
  ParleyClient,
  ParleyClientOptions,
  PresenceSocket,
} from "./client.js";
export { ParleyError, isRetriable } from "./errors.js";
export type { ParleyErrorCode } from "./errors.js";
export { compareIds, newClientMsgId } from "./ids.js";
export { createStore } from "./store.js";
export type { Listener, ReadableStore, WritableStore } from "./store.js";
export { applyPage, mergeMessages } from "./state.js";
export type { ConnectionState, ConnectionStatus, ParleyState, PendingMessage, RoomState, Transport } from "./state.js";
export { TypingThrottle } from "./typing.js";
export type { Clock, TypingOptions } from "./typing.js";
// The contract: its types, and its limits (MAX_CONTENT_CHARS, ROOM_NAME_PATTERN, …) as consts.
export * from "./generated/events.js";
