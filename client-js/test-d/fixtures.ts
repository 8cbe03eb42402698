// Checks the Go fixtures in events/testdata/chat against the generated
// contract: the same files that the Go tests decode strictly must satisfy the
// TypeScript types, so neither side can drift alone. Type-check only.
import type {
  ChatClientToServerEvents,
  ChatServerToClientEvents,
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

type C2S = ChatClientToServerEvents;
type S2C = ChatServerToClientEvents;

/** The payload a client emits for event E. */
type Payload<E extends keyof C2S> = Parameters<C2S[E]>[0];

/** The data of a successful ack of event E. */
type AckData<E extends keyof C2S> =
  Parameters<C2S[E]> extends [unknown, (res: Result<infer T>) => void]
    ? T
    : never;

/** The payload the server emits for event E. */
type Emitted<E extends keyof S2C> = Parameters<S2C[E]>[0];

export const clientToServer = {
  joinRoom: joinRoom satisfies Payload<"joinRoom">,
  joinRoomAck: joinRoomAck satisfies AckData<"joinRoom">,
  leaveRoom: leaveRoom satisfies Payload<"leaveRoom">,
  leaveRoomAck: leaveRoomAck satisfies AckData<"leaveRoom">,
  chatMessage: chatMessage satisfies Payload<"chatMessage">,
  chatMessageAck: chatMessageAck satisfies AckData<"chatMessage">,
  typing: typing satisfies Payload<"typing">,
  fetchHistory: fetchHistory satisfies Payload<"fetchHistory">,
  fetchHistoryAck: fetchHistoryAck satisfies AckData<"fetchHistory">,
};

export const serverToClient = {
  newChatMessage: newChatMessage satisfies Emitted<"newChatMessage">,
  userJoined: userJoined satisfies Emitted<"userJoined">,
  userLeft: userLeft satisfies Emitted<"userLeft">,
  typing: typingServer satisfies Emitted<"typing">,
};

// The helpers above must not collapse to any or never.
// @ts-expect-error room is a string
export const badPayload = { room: 1 } satisfies Payload<"joinRoom">;
// @ts-expect-error members is required
export const badAck = { room: "r", history: [] } satisfies AckData<"joinRoom">;
// @ts-expect-error typing takes no ack
export type NoAck = Parameters<C2S["typing"]>[1];
