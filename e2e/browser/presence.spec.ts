// Story 3: Bob closes his tab; Alice sees him go offline once the presence
// grace period has passed (not before); he comes back and is online again.
import { expect, GRACE_MS, test } from "./fixtures.ts";

test("Bob goes offline after the grace period, and comes back online", async ({ user, room }) => {
  const alice = await user("Alice");
  await alice.join(room);
  const bob = await user("Bob");
  await bob.join(room);
  const bobOnAlice = alice.person("Bob");
  await expect(bobOnAlice).toHaveAttribute("data-status", "online");

  const closedAt = Date.now();
  await bob.context.close();
  // Within the grace period Bob is still shown online (a reload must not flap).
  await expect(bobOnAlice).toHaveAttribute("data-status", "online");
  await expect(bobOnAlice).toHaveAttribute("data-status", "offline", { timeout: GRACE_MS + 8000 });
  expect(Date.now() - closedAt).toBeGreaterThanOrEqual(GRACE_MS);
  await expect(bobOnAlice).toContainText("offline");

  const bobAgain = await user("Bob");
  await bobAgain.join(room);
  await expect(bobOnAlice).toHaveAttribute("data-status", "online");
  await expect(bobAgain.person("Alice")).toHaveAttribute("data-status", "online");
});

test("a status chosen in one tab is what the others see", async ({ user, room }) => {
  const alice = await user("Alice");
  await alice.join(room);
  const bob = await user("Bob");
  await bob.join(room);
  await bob.page.getByLabel("Status", { exact: true }).selectOption("away");
  await expect(alice.person("Bob")).toHaveAttribute("data-status", "away");
  await bob.page.getByLabel("Status", { exact: true }).selectOption("online");
  await expect(alice.person("Bob")).toHaveAttribute("data-status", "online");
});
