// Builds the server binary once before any worker starts one: a cold
// `go run` would take longer than a test may wait. PARLEY_BIN set means the
// caller built it (CI does, in its build step).
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

export default function globalSetup(): void {
  if (process.env["PARLEY_BIN"]) return;
  const repo = fileURLToPath(new URL("../../", import.meta.url));
  execFileSync("go", ["build", "-o", "bin/parley", "./cmd/parley"], { cwd: repo, stdio: "inherit" });
}
