// Story 3: Bob closes his tab; Alice sees him go offline once the presence
// grace period has passed (not before); he comes back and is online again.
import { expect, GRACE_MS, test } from "./fixtures.ts";

/** What the recorder below uses of the page's globals (the suite compiles without the DOM types). */
interface InPage {
  document: {
    querySelector(selector: string): { getAttribute(name: string): string | null } | null;
    getElementById(id: string): unknown;
  };
  MutationObserver: new (callback: () => void) => { observe(target: unknown, options: object): void };
  shownForBob: [number, string][];
}

test("Bob goes offline after the grace period, and comes back online", async ({ user, room }) => {
  const alice = await user("Alice");
  await alice.join(room);
  const bob = await user("Bob");
  await bob.join(room);
  const bobOnAlice = alice.person("Bob");
  await expect(bobOnAlice).toHaveAttribute("data-status", "online");

  // Alice's page records every status it shows for Bob, with the time, so
  // the test sees what the page showed during the grace period and not only
  // where it ended.
  const bobId = await bobOnAlice.getAttribute("data-user-id");
  await alice.page.evaluate((id) => {
    const page = globalThis as unknown as InPage;
    const shown: [number, string][] = (page.shownForBob = []);
    const read = () => {
      const s = page.document.querySelector(`#people li[data-user-id="${id}"]`)?.getAttribute("data-status") ?? "absent";
      if (shown.at(-1)?.[1] !== s) shown.push([Date.now(), s]);
    };
    read();
    new page.MutationObserver(read).observe(page.document.getElementById("people"), {
      subtree: true,
      childList: true,
      attributes: true,
    });
  }, bobId);

  const closedAt = Date.now();
  await bob.context.close();
  await expect(bobOnAlice).toHaveAttribute("data-status", "offline", { timeout: GRACE_MS + 8000 });
  await expect(bobOnAlice).toContainText("offline");
  // Online until the grace period had passed (no flap in between), then offline.
  const shown = await alice.page.evaluate(() => (globalThis as unknown as InPage).shownForBob);
  expect(shown.map(([, s]) => s)).toEqual(["online", "offline"]);
  expect(shown[1]![0] - closedAt).toBeGreaterThanOrEqual(GRACE_MS);

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
