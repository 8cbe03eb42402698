// The load balancer configurations in deploy/ must never cut a healthy
// session: their idle timeouts stay above what bin/parley -h gives as the
// default ping interval plus ping timeout (after which a client is dead
// anyway) and above the SSE heartbeat. A change of the defaults that the
// configurations do not follow fails here.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { it } from "node:test";
import { fileURLToPath } from "node:url";
import { PARLEY_BIN } from "../../support/parley.ts";

const deploy = (name: string) => readFileSync(fileURLToPath(new URL(`../../../deploy/${name}`, import.meta.url)), "utf8");

/** Seconds of a Go or HAProxy/nginx duration: 25s, 1m, 1h, 500ms. */
function seconds(d: string): number {
  const m = /^(\d+)(ms|s|m|h)?$/.exec(d.trim());
  assert.ok(m, `a duration: ${d}`);
  const n = Number(m[1]);
  return { ms: n / 1000, s: n, m: n * 60, h: n * 3600, undefined: n }[m[2] ?? "undefined"]!;
}

/** A flag's default from bin/parley -h ("… (default 25s)"). */
function flagDefault(help: string, flag: string): number {
  const m = new RegExp(`-${flag} duration\\n[^\\n]*\\(default (\\w+)\\)`).exec(help);
  assert.ok(m, `bin/parley -h documents -${flag}`);
  return seconds(m[1]!);
}

it("the HAProxy and nginx timeouts are above the default ping interval + ping timeout and the SSE heartbeat", () => {
  let help: string;
  try {
    help = execFileSync(PARLEY_BIN, ["-h"], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (err) {
    // flag's -h exits with status 0 or 2 depending on the version; the text is on stderr.
    const e = err as { stderr?: string; stdout?: string };
    help = `${e.stdout ?? ""}${e.stderr ?? ""}`;
  }
  const dead = flagDefault(help, "ping-interval") + flagDefault(help, "ping-timeout");
  const heartbeat = flagDefault(help, "sse-heartbeat");
  const interval = flagDefault(help, "ping-interval");

  const haproxy = deploy("haproxy.cfg");
  const timeout = (name: string) => {
    const m = new RegExp(`^\\s*timeout ${name} (\\S+)`, "m").exec(haproxy);
    assert.ok(m, `haproxy.cfg sets timeout ${name}`);
    return seconds(m[1]!);
  };
  for (const name of ["client", "server", "tunnel"]) {
    assert.ok(timeout(name) > dead, `HAProxy timeout ${name} ${timeout(name)} s > ${dead} s`);
  }
  assert.ok(timeout("tunnel") > heartbeat);

  const nginx = deploy("nginx.conf");
  for (const name of ["proxy_read_timeout", "proxy_send_timeout"]) {
    const m = new RegExp(`^\\s*${name} (\\S+);`, "m").exec(nginx);
    assert.ok(m, `nginx.conf sets ${name}`);
    const s = seconds(m[1]!);
    assert.ok(s > dead && s > interval && s > heartbeat, `nginx ${name} ${s} s > ${dead} s`);
  }
});
