// Story 2: the chat of story 1 over long-polling only (`/?transport=polling`
// in both browsers), and mixed: one browser polling, the other on WebSocket.
import { converse } from "./conversation.ts";
import { expect, test } from "./fixtures.ts";

test("both browsers on long-polling", async ({ user, room }) => {
  const alice = await user("Alice", { query: "?transport=polling" });
  const bob = await user("Bob", { query: "?transport=polling" });
  await expect(alice.transport).toHaveText("polling");
  await expect(bob.transport).toHaveText("polling");
  await converse(alice, bob, room);
  // Still polling: nothing upgraded.
  await expect(alice.transport).toHaveText("polling");
  await expect(bob.transport).toHaveText("polling");
});

test("mixed: Alice polling, Bob on WebSocket", async ({ user, room }) => {
  const alice = await user("Alice", { query: "?transport=polling" });
  const bob = await user("Bob", { query: "?transport=websocket" });
  await expect(alice.transport).toHaveText("polling");
  await expect(bob.transport).toHaveText("websocket");
  await converse(alice, bob, room);
});
