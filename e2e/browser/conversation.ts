// The conversation the chat and transport specs play: both users in one
// room, each sees the other in People, typing shows up on the other side,
// and messages go both ways in order.
import { expect, type ChatPage } from "./fixtures.ts";

export async function converse(alice: ChatPage, bob: ChatPage, room: string): Promise<void> {
  await alice.join(room);
  await bob.join(room);
  for (const [me, other] of [
    [alice, bob],
    [bob, alice],
  ] as const) {
    await expect(me.person(other.name)).toHaveAttribute("data-status", "online");
    await expect(me.person(me.name)).toContainText(`${me.name} (you)`);
  }

  await alice.typeUntilSeenBy(bob);
  await alice.composer.fill("");
  await alice.send("Hello Bob");
  await expect(bob.message("Hello Bob")).toBeVisible();
  await expect(bob.typing).toHaveText("");

  await bob.typeUntilSeenBy(alice);
  await bob.composer.fill("");
  await bob.send("Hi Alice, multi-line\nworks too");
  await expect(alice.message("Hi Alice, multi-line\nworks too")).toBeVisible();
  await expect(alice.typing).toHaveText("");

  for (const u of [alice, bob]) {
    await expect.poll(() => u.texts()).toEqual(["Hello Bob", "Hi Alice, multi-line\nworks too"]);
    // Confirmed: nothing left waiting.
    await expect(u.page.locator("#messages [data-state]")).toHaveCount(0);
  }
}
