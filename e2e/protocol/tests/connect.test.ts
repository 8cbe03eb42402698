// CONNECT / CONNECT_ERROR behaviour: auth echo, socket ids, namespace
// validation, namespace middleware and dynamic namespaces, on each transport.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MODES, WAIT_MS, connectClient, createClient, within, useSuiteServer } from "../util.ts";

const server = useSuiteServer();

for (const mode of MODES) {
  describe(`connect [${mode}]`, { timeout: 20_000 }, () => {
    it("echoes the CONNECT auth payload on / and reports info.id === socket.id", async () => {
      const auth = { token: "abc", n: 42, nested: { list: [1, "two", null, true] } };
      const c = await connectClient(server(), { mode, auth });
      const [echoed] = await c.log.nextArgs("auth");
      assert.deepEqual(echoed, auth);
      const [info] = await c.log.nextArgs("info");
      assert.deepEqual(info, { id: c.socket.id, recovered: false });
      // Without connection state recovery the CONNECT ack carries no "pid",
      // so socket.io-client leaves `recovered` falsy (it is `undefined`).
      assert.ok(!c.socket.recovered);
    });

    it("echoes {} when the CONNECT carries no auth", async () => {
      const c = await connectClient(server(), { mode });
      const [echoed] = await c.log.nextArgs("auth");
      assert.deepEqual(echoed, {});
    });

    it("echoes the auth payload on /custom", async () => {
      const auth = { user: "zoë", list: [1, 2, 3] };
      const c = await connectClient(server(), { mode, nsp: "/custom", auth });
      const [echoed] = await c.log.nextArgs("auth");
      assert.deepEqual(echoed, auth);
    });

    it("gives distinct sockets distinct ids", async () => {
      const a = await connectClient(server(), { mode });
      const b = await connectClient(server(), { mode });
      assert.notEqual(a.socket.id, b.socket.id);
      const [ia] = await a.log.nextArgs("info");
      const [ib] = await b.log.nextArgs("info");
      assert.equal((ia as { id: string }).id, a.socket.id);
      assert.equal((ib as { id: string }).id, b.socket.id);
    });

    it('refuses an unknown namespace with connect_error "Invalid namespace"', async () => {
      const c = createClient(server(), { mode, nsp: "/does-not-exist" });
      const [err] = (await c.log.nextArgs("connect_error")) as [Error];
      assert.equal(err.message, "Invalid namespace");
      assert.equal(c.socket.connected, false);
      assert.equal(c.log.count("connect"), 0);
    });

    it("namespace middleware /mw refuses a missing token with message and data", async () => {
      const c = createClient(server(), { mode, nsp: "/mw" });
      const [err] = (await c.log.nextArgs("connect_error")) as [Error & { data?: unknown }];
      assert.equal(err.message, "unauthorized");
      assert.deepEqual(err.data, { code: "unauthorized", reason: "bad token" });
      assert.equal(c.socket.connected, false);
    });

    it("namespace middleware /mw refuses a wrong token", async () => {
      const c = createClient(server(), { mode, nsp: "/mw", auth: { token: "nope" } });
      const [err] = (await c.log.nextArgs("connect_error")) as [Error & { data?: unknown }];
      assert.equal(err.message, "unauthorized");
      assert.deepEqual(err.data, { code: "unauthorized", reason: "bad token" });
    });

    it('namespace middleware /mw admits token "secret"', async () => {
      const c = await connectClient(server(), { mode, nsp: "/mw", auth: { token: "secret" } });
      const [echoed] = await c.log.nextArgs("auth");
      assert.deepEqual(echoed, { token: "secret" });
    });

    it("dynamic namespace /dyn-42 connects and reports its name", async () => {
      const c = await connectClient(server(), { mode, nsp: "/dyn-42" });
      const [nsp] = await c.log.nextArgs("nsp");
      assert.equal(nsp, "/dyn-42");
    });

    it("dynamic namespace regex refuses /dyn-x", async () => {
      const c = createClient(server(), { mode, nsp: "/dyn-x" });
      const [err] = (await c.log.nextArgs("connect_error")) as [Error];
      assert.equal(err.message, "Invalid namespace");
    });
  });
}

describe("connect: multiplexing", { timeout: 20_000 }, () => {
  it("one Manager (one engine) carries several namespaces", async () => {
    const main = await connectClient(server(), { mode: "websocket" });
    const custom = main.socket.io.socket("/custom", { auth: { via: "mux" } });
    const dyn = main.socket.io.socket("/dyn-7");
    try {
      const auth = new Promise<unknown>((resolve) => custom.once("auth", resolve));
      const nsp = new Promise<unknown>((resolve) => dyn.once("nsp", resolve));
      // Manager.socket() connects right away (autoConnect); calling connect()
      // again would send a duplicate CONNECT, which the server answers by
      // closing the whole connection.
      assert.deepEqual(await within(auth, WAIT_MS, "auth on /custom"), { via: "mux" });
      assert.equal(await within(nsp, WAIT_MS, "nsp on /dyn-7"), "/dyn-7");
      // the three namespaces share the same engine
      assert.equal(custom.io, main.socket.io);
      assert.equal(dyn.io.engine, main.socket.io.engine);
      assert.notEqual(custom.id, main.socket.id);
    } finally {
      custom.disconnect();
      dyn.disconnect();
    }
  });
});
