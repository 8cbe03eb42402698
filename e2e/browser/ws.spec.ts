// Story: a plain WebSocket page (/ws.html: the browser's WebSocket and
// JSON frames, no socket.io-client) and the demo page (socket.io-client)
// chat in one room.
import { expect, test } from "./fixtures.ts";

test("a plain WebSocket page and the demo page talk in one room", async ({ browser, parley, user, room }) => {
  const bob = await user("Bob");
  await bob.join(room);

  const context = await browser.newContext({ baseURL: parley.url });
  try {
    const page = await context.newPage();
    const opened = page.waitForEvent("websocket");
    await page.goto("/ws.html");
    await page.getByLabel("Your name").fill("Alice");
    await page.getByRole("button", { name: "Sign in" }).click();
    const ws = await opened;
    // The page speaks /ws, not Socket.IO: its first frame is the info frame.
    expect(new URL(ws.url()).pathname).toBe("/ws");
    const status = page.getByRole("status");
    await expect(status).toHaveText("connected as Alice");

    await page.getByLabel("Room").fill(room);
    await page.getByLabel("Room").press("Enter");
    await expect(status).toHaveText(`in #${room}`);
    await expect(bob.person("Alice")).toBeVisible(); // userJoined reached the demo page

    const frames: string[] = [];
    ws.on("framereceived", (f) => frames.push(String(f.payload)));

    await page.getByRole("textbox", { name: "Message" }).fill("hello from a plain WebSocket");
    await page.getByRole("textbox", { name: "Message" }).press("Enter");
    await expect(page.getByRole("list", { name: "Messages" }).getByText("hello from a plain WebSocket")).toBeVisible();
    await expect(bob.message("hello from a plain WebSocket")).toBeVisible();

    await bob.send("hi back over socket.io");
    await expect(page.getByRole("list", { name: "Messages" }).getByText("hi back over socket.io")).toBeVisible();
    // It arrived as a newChatMessage frame of JSON.
    const got = frames.map((f) => JSON.parse(f) as { type: string; data?: { content?: string } });
    expect(got.some((f) => f.type === "newChatMessage" && f.data?.content === "hi back over socket.io")).toBe(true);
    await expect(page.getByRole("alert")).toHaveText("");
  } finally {
    await context.close();
  }
});
