// Story 5: a private room (`private:*`) needs a `rooms` claim in the user's
// token. Without it, joining fails with an error the user can see, and the
// page goes on working.
import { expect, test } from "./fixtures.ts";
import { MAX_ROOM_NAME_CHARS } from "../../client-js/src/generated/events.ts";

test("joining a private room without the claim shows an error", async ({ user, room }) => {
  // The demo signs in with a dev token (GET /api/dev/token?name=), which
  // carries no rooms claim.
  const alice = await user("Alice");
  const secret = `private:${room}`.slice(0, MAX_ROOM_NAME_CHARS);
  await alice.page.getByLabel("Join or create a room").fill(secret);
  await alice.page.getByLabel("Join or create a room").press("Enter");
  await expect(alice.alert).toContainText(`Cannot join ${secret}`);
  await expect(alice.alert).toContainText("forbidden");
  await expect(alice.page.locator(`#room-list [data-room="${secret}"]`)).toHaveCount(0);

  // Dismissed with Escape; public rooms still work.
  await alice.page.keyboard.press("Escape");
  await expect(alice.alert).toHaveCount(0);
  await alice.join(room);
  await alice.send("still here");
  await expect(alice.message("still here")).toBeVisible();
});
