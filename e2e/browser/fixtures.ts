// Fixtures of the browser suite: one parley per worker (port 0, through
// e2e/support; temporary data directory, short presence grace), and `user(name)`,
// which opens the demo page in a browser context of its own (its own
// sessionStorage and connection, as a second browser would) and signs in.
import { test as base, expect, type Browser, type BrowserContext, type Page, type Locator } from "@playwright/test";
import { startParley, type Parley, type ParleyOptions } from "../support/parley.ts";

/** The presence grace period of the suite's servers. */
export const GRACE_MS = 2000;
export const SERVER_ARGS = ["--presence-grace", `${GRACE_MS}ms`, "--recovery-duration", "30s"];

export { expect };

/** The demo page as one user sees it. */
export class ChatPage {
  readonly messages: Locator;
  readonly composer: Locator;
  readonly typing: Locator;
  readonly transport: Locator;
  readonly connection: Locator;
  readonly alert: Locator;

  constructor(
    readonly page: Page,
    readonly context: BrowserContext,
    readonly name: string,
  ) {
    this.messages = page.getByRole("list", { name: "Messages" }).getByRole("listitem");
    this.composer = page.getByRole("textbox", { name: "Message" });
    this.typing = page.locator("#typing");
    this.transport = page.locator("#transport");
    this.connection = page.getByRole("status");
    this.alert = page.getByRole("alert").filter({ hasText: /\S/ });
  }

  async signIn(): Promise<void> {
    await this.page.getByLabel("Your name").fill(this.name);
    await this.page.getByRole("button", { name: "Sign in" }).click();
    await expect(this.page.getByText(`Signed in as ${this.name}`)).toBeVisible();
    await expect(this.connection).toHaveText("connected");
  }

  async join(room: string): Promise<void> {
    await this.page.getByLabel("Join or create a room").fill(room);
    await this.page.getByLabel("Join or create a room").press("Enter");
    await expect(this.page.getByRole("heading", { name: `# ${room}`, exact: true })).toBeVisible();
  }

  async send(text: string): Promise<void> {
    await this.composer.fill(text);
    await this.composer.press("Enter");
    await expect(this.composer).toHaveValue("");
  }

  /** A message of the open room, by its text. */
  message(text: string): Locator {
    return this.messages.filter({ has: this.page.locator(".text", { hasText: new RegExp(`^${escape(text)}$`) }) });
  }

  /** The entry of a user in the People list. */
  person(name: string): Locator {
    const label = name === this.name ? `${name} (you)` : name;
    return this.page
      .locator("#people li")
      .filter({ has: this.page.locator(".name").getByText(label, { exact: true }) });
  }

  /**
   * Types into the composer until `other` sees the typing indicator. Typing
   * events are volatile (a dropped one is repeated by the client's throttle
   * while typing goes on), so this keeps typing, as a person does.
   */
  async typeUntilSeenBy(other: ChatPage): Promise<void> {
    await expect(async () => {
      await this.composer.press("x");
      await expect(other.typing).toHaveText(`${this.name} is typing…`, { timeout: 1000 });
    }).toPass({ timeout: 15_000 });
  }

  /** The texts of the open room's messages, in page order. */
  texts(): Promise<string[]> {
    return this.page.locator("#messages .text").allTextContents();
  }
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

type WorkerFixtures = { parley: Parley };
type TestFixtures = {
  /** Opens the demo (`query` e.g. "?transport=polling") as a new user, signed in. */
  user: (name: string, opts?: { query?: string; server?: Parley }) => Promise<ChatPage>;
  /** A room name unique to the test. */
  room: string;
};

export async function openUser(browser: Browser, server: Parley, name: string, query = ""): Promise<ChatPage> {
  const context = await browser.newContext({ baseURL: server.url });
  const page = await context.newPage();
  await page.goto(`/${query}`);
  const user = new ChatPage(page, context, name);
  await user.signIn();
  return user;
}

export const test = base.extend<TestFixtures, WorkerFixtures>({
  parley: [
    async ({}, use) => {
      const server = await startParley({ args: SERVER_ARGS });
      try {
        await use(server);
      } finally {
        await server.dispose();
      }
    },
    { scope: "worker" },
  ],
  user: async ({ browser, parley }, use) => {
    const contexts: BrowserContext[] = [];
    await use(async (name, opts = {}) => {
      const u = await openUser(browser, opts.server ?? parley, name, opts.query);
      contexts.push(u.context);
      return u;
    });
    for (const c of contexts) await c.close().catch(() => {});
  },
  room: async ({}, use, info) => {
    await use(
      // The ":" keeps the name from being shaped like a socket id, which the server refuses.
      `${info.title.replace(/[^A-Za-z0-9]+/g, "-").slice(0, 40)}:${info.workerIndex}-${info.repeatEachIndex}-${Date.now() % 100000}`,
    );
  },
});

export type { Parley, ParleyOptions };
