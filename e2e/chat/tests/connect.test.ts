// /chat identity: in dev mode the handshake auth must be {userId, name}, two
// non-blank strings of at most 64 characters each; anything else is refused
// with connect_error "unauthorized" (data.code "unauthorized").

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { useParley } from "../../support/hooks.ts";
import { MODES, connectClient, createClient, ok, uniqueRoom, useClientCleanup } from "../client.ts";
import { MAX_IDENTITY_CHARS } from "../../../client-js/src/generated/events.ts";

const server = useParley();
useClientCleanup();

interface ConnectError extends Error {
  data?: { code?: unknown; message?: unknown };
}

const BAD_AUTH: ReadonlyArray<[string, Record<string, unknown> | undefined]> = [
  ["no auth at all", undefined],
  ["empty object", {}],
  ["name missing", { userId: "u1" }],
  ["userId missing", { name: "Ann" }],
  ["blank userId", { userId: "   ", name: "Ann" }],
  ["empty name", { userId: "u1", name: "" }],
  ["userId not a string", { userId: 42, name: "Ann" }],
  ["name not a string", { userId: "u1", name: { first: "Ann" } }],
  [`userId of ${MAX_IDENTITY_CHARS + 1} characters`, { userId: "u".repeat(MAX_IDENTITY_CHARS + 1), name: "Ann" }],
  [`name of ${MAX_IDENTITY_CHARS + 1} emoji`, { userId: "u1", name: "😀".repeat(MAX_IDENTITY_CHARS + 1) }],
];

for (const mode of MODES) {
  describe(`/chat identity [${mode}]`, () => {
    for (const [what, auth] of BAD_AUTH) {
      it(`refuses ${what} with connect_error unauthorized`, async () => {
        const c = createClient(server(), { mode, ...(auth === undefined ? { extra: { auth: undefined } } : { auth }) });
        const [err] = (await c.log.nextArgs("connect_error")) as [ConnectError];
        assert.equal(err.message, "unauthorized");
        assert.equal(err.data?.code, "unauthorized");
        assert.equal(typeof err.data?.message, "string");
        assert.equal(c.socket.connected, false);
        assert.equal(c.log.count("connect"), 0);
      });
    }

    it("accepts {userId, name} and uses it as the socket's identity", async () => {
      const room = uniqueRoom("identity");
      // The limit counts characters (each emoji is 2 UTF-16 units, 4 bytes).
      const user = { userId: `id-${mode}-`.padEnd(MAX_IDENTITY_CHARS, "x"), name: "😀".repeat(MAX_IDENTITY_CHARS) };
      const c = await connectClient(server(), { mode, user });
      const joined = await ok(c.socket, "joinRoom", { room });
      assert.deepEqual(joined.members, [{ id: user.userId, name: user.name }]);
    });

    it("ignores extra handshake fields (they grant nothing)", async () => {
      const room = uniqueRoom("extra-auth");
      const c = await connectClient(server(), {
        mode,
        auth: { userId: `plain-${mode}`, name: "Plain", role: "admin", id: "root" },
      });
      await ok(c.socket, "joinRoom", { room });
      const sent = await ok(c.socket, "chatMessage", { room, content: "hi" });
      assert.deepEqual(sent.sender, { id: `plain-${mode}`, name: "Plain" });
    });
  });
}
