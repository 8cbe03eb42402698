// Story 1: Alice and Bob join a room, exchange messages both ways, and see
// each other in the member list and typing indicators.
import { converse } from "./conversation.ts";
import { expect, test } from "./fixtures.ts";

test("Alice and Bob chat in a room", async ({ user, room }) => {
  const alice = await user("Alice");
  const bob = await user("Bob");
  await converse(alice, bob, room);
  // The default: long-polling first, then the upgrade to WebSocket.
  await expect(alice.transport).toHaveText("websocket");
  await expect(bob.transport).toHaveText("websocket");
});

test("history: a newcomer sees the room's earlier messages, oldest first", async ({ user, room }) => {
  const alice = await user("Alice");
  await alice.join(room);
  for (const text of ["first", "second", "third"]) await alice.send(text);
  await expect(alice.page.locator("#messages [data-state]")).toHaveCount(0);
  const carol = await user("Carol");
  await carol.join(room);
  await expect.poll(() => carol.texts()).toEqual(["first", "second", "third"]);
});

test("a message in a room not on screen is counted as unread; Alt+↓ switches rooms", async ({ user, room }) => {
  const other = `${room}-b`;
  const alice = await user("Alice");
  const bob = await user("Bob");
  await alice.join(other);
  await bob.join(other);
  await bob.join(room); // Bob now looks at `room`
  await alice.send("psst");
  const otherButton = bob.page.locator(`#room-list [data-room="${other}"]`);
  await expect(otherButton.getByLabel("1 unread")).toBeVisible();
  await bob.composer.focus();
  await bob.page.keyboard.press("Alt+ArrowDown");
  await expect(bob.page.getByRole("heading", { name: `# ${other}`, exact: true })).toBeVisible();
  await expect(bob.message("psst")).toBeVisible();
  await expect(otherButton.getByLabel("1 unread")).toHaveCount(0);
  await expect(bob.composer).toBeFocused();
});
