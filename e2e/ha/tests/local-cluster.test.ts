// deploy/local-cluster.sh: it starts Redis, PostgreSQL, three nodes and
// HAProxy, prints the URL, serves chat through it across nodes, and on
// SIGINT (Ctrl-C) stops everything and deletes its directory.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { it } from "node:test";
import { fileURLToPath } from "node:url";
import { connectClient, newUser, ok, send, uniqueRoom, useClientCleanup, within } from "../../chat/client.ts";
import { PARLEY_BIN, type Parley } from "../../support/parley.ts";
import { clientOptions } from "../cluster.ts";

const SCRIPT = fileURLToPath(new URL("../../../deploy/local-cluster.sh", import.meta.url));

useClientCleanup();

it("local-cluster.sh serves a cluster through HAProxy and leaves nothing behind on Ctrl-C", { timeout: 60_000 }, async () => {
  const child = spawn("bash", [SCRIPT], { env: { ...process.env, PARLEY_BIN }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  try {
    await within(
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (/Ctrl-C stops everything/.test(out)) resolve();
        };
        child.stdout.on("data", check);
        void exited.then(() => reject(new Error(`local-cluster.sh exited:\n${out}`)));
      }),
      45_000,
      `local-cluster.sh to print its URL:\n${out}`,
    );
    const url = /open\s+(http:\/\/127\.0\.0\.1:\d+)\//.exec(out)?.[1];
    const nodes = /nodes\s+(.+)/.exec(out)?.[1]?.trim().split(/\s+/) ?? [];
    const dir = /deletes (\/tmp\/parley-cluster-\w+)/.exec(out)?.[1];
    assert.ok(url && dir, out);
    assert.equal(nodes.length, 3);
    assert.ok(existsSync(dir));

    // Two clients, a message across them, through the balancer.
    const lb = { url } as Parley;
    const room = uniqueRoom("local");
    const [a, b] = await Promise.all(
      ["Ann", "Bob"].map((name) => connectClient(lb, { mode: "upgrade", user: newUser(name), extra: clientOptions() })),
    );
    for (const c of [a!, b!]) await ok(c.socket, "joinRoom", { room });
    const msg = await send(a!, room, "hello, cluster");
    assert.deepEqual(await b!.log.next("newChatMessage"), msg);

    child.kill("SIGINT");
    assert.equal(await within(exited, 30_000, "local-cluster.sh to stop"), 130, out);
    assert.ok(!existsSync(dir), `${dir} was removed`);
    for (const addr of [url, ...nodes.map((n) => `http://${n}`)]) {
      const refused = await fetch(`${addr}/healthz`).then(
        () => false,
        () => true,
      );
      assert.ok(refused, `${addr} no longer answers`);
    }
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
  }
});
