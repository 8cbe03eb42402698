// Checks the Go fixtures in events/testdata/chat and events/testdata/presence
// against the generated contract: the same files that the Go tests decode
// strictly must satisfy the TypeScript types, so neither side can drift
// alone. Type-check only.
import type {
  ChatClientToServerEvents,
  ChatServerToClientEvents,
  PresenceClientToServerEvents,
  PresenceServerToClientEvents,
  Result,
} from "../src/generated/events.js";

import joinRoom from "../../events/testdata/chat/joinRoom.json" with { type: "json" };
import joinRoomAck from "../../events/testdata/chat/joinRoom.ack.json" with { type: "json" };
import leaveRoom from "../../events/testdata/chat/leaveRoom.json" with { type: "json" };
import leaveRoomAck from "../../events/testdata/chat/leaveRoom.ack.json" with { type: "json" };
import chatMessage from "../../events/testdata/chat/chatMessage.json" with { type: "json" };
import chatMessageAck from "../../events/testdata/chat/chatMessage.ack.json" with { type: "json" };
import typing from "../../events/testdata/chat/typing.json" with { type: "json" };
import fetchHistory from "../../events/testdata/chat/fetchHistory.json" with { type: "json" };
import fetchHistoryAck from "../../events/testdata/chat/fetchHistory.ack.json" with { type: "json" };
import newChatMessage from "../../events/testdata/chat/newChatMessage.server.json" with { type: "json" };
import userJoined from "../../events/testdata/chat/userJoined.server.json" with { type: "json" };
import userLeft from "../../events/testdata/chat/userLeft.server.json" with { type: "json" };
import typingServer from "../../events/testdata/chat/typing.server.json" with { type: "json" };
import refreshToken from "../../events/testdata/chat/refreshToken.json" with { type: "json" };
import refreshTokenAck from "../../events/testdata/chat/refreshToken.ack.json" with { type: "json" };

import setStatus from "../../events/testdata/presence/setStatus.json" with { type: "json" };
import setStatusAck from "../../events/testdata/presence/setStatus.ack.json" with { type: "json" };
import subscribe from "../../events/testdata/presence/subscribe.json" with { type: "json" };
import subscribeAck from "../../events/testdata/presence/subscribe.ack.json" with { type: "json" };
import unsubscribe from "../../events/testdata/presence/unsubscribe.json" with { type: "json" };
import unsubscribeAck from "../../events/testdata/presence/unsubscribe.ack.json" with { type: "json" };
import presenceRefreshToken from "../../events/testdata/presence/refreshToken.json" with { type: "json" };
import presenceRefreshTokenAck from "../../events/testdata/presence/refreshToken.ack.json" with { type: "json" };
import status from "../../events/testdata/presence/status.server.json" with { type: "json" };
import userConnected from "../../events/testdata/presence/userConnected.server.json" with { type: "json" };

type Handler = (...args: never[]) => void;

/** The payload a client emits for event E of map M. */
type Payload<M extends Record<E, Handler>, E extends keyof M> = Parameters<M[E]>[0];

/** The data of a successful ack of event E of map M. */
type AckData<M extends Record<E, Handler>, E extends keyof M> =
  Parameters<M[E]> extends [unknown, (res: Result<infer T>) => void]
    ? T
    : never;

/** The payload the server emits for event E of map M. */
type Emitted<M extends Record<E, Handler>, E extends keyof M> = Parameters<M[E]>[0];

type C2S = ChatClientToServerEvents;
type S2C = ChatServerToClientEvents;
type PC2S = PresenceClientToServerEvents;
type PS2C = PresenceServerToClientEvents;

/**
 * T with its unions of string literals widened to string. A JSON import
 * types `"away"` as string, so a fixture cannot satisfy `PresenceStatus`;
 * its values are Go's to check (the events tests decode and validate these
 * very files). Everything else (field names, optionality, types) is checked.
 */
type Loose<T> = T extends string
  ? string
  : T extends readonly (infer E)[]
    ? Loose<E>[]
    : T extends object
      ? { [K in keyof T]: Loose<T[K]> }
      : T;

export const clientToServer = {
  joinRoom: joinRoom satisfies Payload<C2S, "joinRoom">,
  joinRoomAck: joinRoomAck satisfies AckData<C2S, "joinRoom">,
  leaveRoom: leaveRoom satisfies Payload<C2S, "leaveRoom">,
  leaveRoomAck: leaveRoomAck satisfies AckData<C2S, "leaveRoom">,
  chatMessage: chatMessage satisfies Payload<C2S, "chatMessage">,
  chatMessageAck: chatMessageAck satisfies AckData<C2S, "chatMessage">,
  typing: typing satisfies Payload<C2S, "typing">,
  fetchHistory: fetchHistory satisfies Payload<C2S, "fetchHistory">,
  fetchHistoryAck: fetchHistoryAck satisfies AckData<C2S, "fetchHistory">,
  refreshToken: refreshToken satisfies Payload<C2S, "refreshToken">,
  refreshTokenAck: refreshTokenAck satisfies AckData<C2S, "refreshToken">,
};

export const serverToClient = {
  newChatMessage: newChatMessage satisfies Emitted<S2C, "newChatMessage">,
  userJoined: userJoined satisfies Emitted<S2C, "userJoined">,
  userLeft: userLeft satisfies Emitted<S2C, "userLeft">,
  typing: typingServer satisfies Emitted<S2C, "typing">,
};

export const presenceClientToServer = {
  setStatus: setStatus satisfies Loose<Payload<PC2S, "setStatus">>,
  setStatusAck: setStatusAck satisfies Loose<AckData<PC2S, "setStatus">>,
  subscribe: subscribe satisfies Payload<PC2S, "subscribe">,
  subscribeAck: subscribeAck satisfies Loose<AckData<PC2S, "subscribe">>,
  unsubscribe: unsubscribe satisfies Payload<PC2S, "unsubscribe">,
  unsubscribeAck: unsubscribeAck satisfies AckData<PC2S, "unsubscribe">,
  refreshToken: presenceRefreshToken satisfies Payload<PC2S, "refreshToken">,
  refreshTokenAck: presenceRefreshTokenAck satisfies AckData<PC2S, "refreshToken">,
};

export const presenceServerToClient = {
  status: status satisfies Loose<Emitted<PS2C, "status">>,
  userConnected: userConnected satisfies Emitted<PS2C, "userConnected">,
};

// The helpers above must not collapse to any or never.
// @ts-expect-error room is a string
export const badPayload = { room: 1 } satisfies Payload<C2S, "joinRoom">;
// @ts-expect-error members is required
export const badAck = { room: "r", history: [] } satisfies AckData<C2S, "joinRoom">;
// @ts-expect-error typing takes no ack
export type NoAck = Parameters<C2S["typing"]>[1];
// @ts-expect-error userIds is a list
export const badWatch = { userIds: "u-bob" } satisfies Payload<PC2S, "subscribe">;
// @ts-expect-error Loose widens the enum, not the fields: connections is required
export const badState = { userId: "u", name: "U", isOnline: true, status: "online", lastSeen: 0 } satisfies Loose<
  Emitted<PS2C, "status">
>;
// @ts-expect-error the exact type still refuses a plain string status
export const wideStatus = { status: "away" as string } satisfies Payload<PC2S, "setStatus">;
