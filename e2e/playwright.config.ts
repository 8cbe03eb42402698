// Playwright end-to-end tests of the demo page (e2e/browser) in Debian's
// Chromium: `npm run test:browser -w e2e`. Browsers are never downloaded
// (PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1; `apt-get install chromium`). The
// global setup builds bin/parley; each worker runs its own server on a free
// port with a temporary data directory (browser/fixtures.ts).
import { defineConfig } from "@playwright/test";

export default defineConfig({
  testDir: "./browser",
  testMatch: "**/*.spec.ts",
  globalSetup: "./browser/global-setup.ts",
  // Two cores: two workers, each with its own server and two browser contexts.
  workers: process.env["PW_WORKERS"] ? Number(process.env["PW_WORKERS"]) : 2,
  fullyParallel: true,
  forbidOnly: !!process.env["CI"],
  retries: 0,
  timeout: 45_000,
  expect: { timeout: 10_000 },
  reporter: [["list"]],
  outputDir: "test-results",
  use: {
    browserName: "chromium",
    launchOptions: {
      executablePath: process.env["CHROMIUM_PATH"] ?? "/usr/bin/chromium",
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
      ],
    },
    screenshot: "only-on-failure",
    trace: "retain-on-failure",
    actionTimeout: 10_000,
  },
});
