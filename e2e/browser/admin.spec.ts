// Story: an operator watches Parley in the Socket.IO Admin UI. The UI's own
// static build, as the npm package @socket.io/admin-ui ships it, is served
// on a port of its own; it logs in to a parley started with --admin-ui and
// credentials, shows a /chat socket in the room it joined, and disconnects
// it, which the socket.io-client of that socket sees as a server
// disconnect.
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { hostname } from "node:os";
import { createRequire } from "node:module";
import { dirname, extname, join, normalize } from "node:path";
import { io, type Socket } from "socket.io-client";
import { startParley, type Parley } from "../support/parley.ts";
import { expect, SERVER_ARGS, test } from "./fixtures.ts";

const HOST = "127.0.0.1";
const ADMIN_USER = "admin";
const ADMIN_PASSWORD = "parley-admin-e2e";
/** bcrypt (cost 10) of ADMIN_PASSWORD: the form --admin-password-hash takes, as Node's instrument() does. */
const ADMIN_PASSWORD_HASH = "$2a$10$B7EHqHX8R2E30VtoR8npPuO9weAMiHuQZpG7kgZcM9KI5Iaj4wNvO";

/** The UI's static build inside the npm package. */
const UI_DIR = join(dirname(createRequire(import.meta.url).resolve("@socket.io/admin-ui/package.json")), "ui", "dist");

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript",
  ".css": "text/css",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".map": "application/json",
};

/** Serves UI_DIR on 127.0.0.1:port. */
async function serveUI(): Promise<{ url: string; close: () => Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname));
    const file = join(UI_DIR, path === "/" ? "index.html" : path);
    if (!file.startsWith(UI_DIR)) {
      res.writeHead(403).end();
      return;
    }
    stat(file).then(
      (st) => {
        if (!st.isFile()) throw new Error("not a file");
        res.writeHead(200, { "Content-Type": TYPES[extname(file)] ?? "application/octet-stream" });
        createReadStream(file).pipe(res);
      },
      () => res.writeHead(404).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${HOST}:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

test("the Admin UI logs in, shows a /chat socket in its room and disconnects it", async ({ browser, room }) => {
  // A server and a static server of its own, a login with bcrypt and a full
  // single-page app: about 15 s on an idle machine, twice that on a loaded one.
  test.setTimeout(90_000);
  const parley: Parley = await startParley({
    args: [...SERVER_ARGS, "--admin-ui", "--admin-user", ADMIN_USER, "--admin-password-hash", ADMIN_PASSWORD_HASH],
  });
  const ui = await serveUI();
  let chat: Socket | undefined;
  try {
    // A chat user (dev-mode handshake identity) in a room.
    chat = io(`${parley.url}/chat`, {
      forceNew: true,
      reconnection: false,
      transports: ["websocket"],
      auth: { userId: "admin-e2e-user", name: "Watched" },
    });
    const sock = chat;
    const disconnected = new Promise<string>((resolve) => sock.on("disconnect", (reason) => resolve(reason)));
    await new Promise<void>((resolve, reject) => {
      sock.once("connect", () => resolve());
      sock.once("connect_error", (err) => reject(err));
    });
    const joined = (await sock.timeout(10_000).emitWithAck("joinRoom", { room })) as { ok: boolean };
    expect(joined.ok).toBe(true);
    const id = sock.id;
    expect(id).toBeTruthy();

    const context = await browser.newContext();
    // The UI's page links web fonts from the Internet: nothing but the two
    // local servers is reachable here.
    await context.route(
      (url) => url.hostname !== HOST,
      (route) => route.abort(),
    );
    const page = await context.newPage();
    await page.goto(`${ui.url}/`);

    // A wrong password first: the UI stays on its login form with the error.
    await page.getByLabel("Server URL").fill(parley.url);
    await page.getByLabel("Username").fill(ADMIN_USER);
    await page.getByLabel("Password").fill("wrong");
    await page.getByRole("button", { name: "Connect" }).click();
    await expect(page.getByText("invalid credentials")).toBeVisible();

    await page.getByLabel("Password").fill(ADMIN_PASSWORD);
    await page.getByRole("button", { name: "Connect" }).click();
    await expect(page.getByRole("button", { name: "Connect" })).toBeHidden();
    // server_stats reached the dashboard: the servers list knows this node.
    await page.goto(`${ui.url}/#/servers/`);
    // Its default server id is hostname#pid.
    const serverId = new RegExp(`^${hostname().replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}#\\d+$`);
    await expect(page.getByText(serverId)).toBeVisible();

    // The socket's page lists the room by its plain name.
    const socketPage = `${ui.url}/#/n/${encodeURIComponent("/chat")}/sockets/${id}`;
    await expect(async () => {
      await page.goto(`${ui.url}/#/`);
      await page.goto(socketPage);
      await expect(page.getByRole("cell", { name: room, exact: true })).toBeVisible({ timeout: 1000 });
    }).toPass({ timeout: 15_000 });
    await expect(page.getByRole("cell", { name: `#${room}` })).toHaveCount(0);

    // Disconnect it from the UI.
    await page.locator("button:has(i.mdi-logout)").first().click();
    expect(await disconnected).toBe("io server disconnect");

    // A reload logs in again with the session id the server handed out,
    // without the form.
    await page.reload();
    await page.goto(`${ui.url}/#/servers/`);
    await expect(page.getByText(serverId)).toBeVisible();
    await expect(page.getByRole("button", { name: "Connect" })).toBeHidden();
    await context.close();
  } finally {
    chat?.close();
    await ui.close();
    await parley.dispose();
  }
});
