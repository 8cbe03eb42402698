// Abuse limits with the real npm socket.io-client: per-socket token buckets
// at their defaults (chatMessage 10/s burst 20), recovery, ack-less events
// dropped, persistent abuse disconnecting the socket (the window is
// shortened to 1 s for the test), and the per-user connection cap.

import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import { useParley } from "../../support/hooks.ts";
import { MODES, call, closeAll, connect, disconnected, outcome, type ConnectError } from "../client.ts";
import { WAIT_MS, within } from "../../support/within.ts";

const server = useParley({ args: ["--abuse-window", "1s", "--max-connections-per-user", "3"] });
afterEach(closeAll);

let seq = 0;
function user(name: string): { userId: string; name: string } {
  return { userId: `${name}-${process.pid}-${++seq}`, name };
}

for (const mode of MODES) {
  describe(`rate limits [${mode}]`, () => {
    it("answers rate_limited beyond the burst, and recovers at the rate", async () => {
      const room = `limits:${process.pid}-${++seq}`;
      const s = await connect(server(), "/chat", mode, user("Alice"));
      assert.equal(await outcome(s, "joinRoom", { room }), "ok");
      // 30 at once: the burst of 20 passes, the rest is refused.
      const results = await Promise.all(Array.from({ length: 30 }, (_, i) => outcome(s, "chatMessage", { room, content: `m${i}` })));
      const ok = results.filter((r) => r === "ok").length;
      const limited = results.filter((r) => r === "rate_limited").length;
      assert.equal(ok + limited, 30, results.join(","));
      assert.ok(ok >= 20 && ok <= 22, `${ok} passed (burst 20, refill 10/s)`);
      // Recovered: a token comes back every 100 ms (polling a deadline).
      const deadline = Date.now() + 3000;
      while ((await outcome(s, "chatMessage", { room, content: "again" })) !== "ok") {
        assert.ok(Date.now() < deadline, "the limit never recovered");
        await new Promise((r) => setTimeout(r, 50)); // polling interval, not synchronisation
      }
      assert.equal(s.connected, true);
    });

    it("drops ack-less events beyond the limit (typing 5/s, burst 10)", async () => {
      const room = `typing:${process.pid}-${++seq}`;
      // The typist's transport is the one under test (the limit is its
      // socket's). The reader listens over websocket: relayed typing is
      // volatile, and a polling reader drops most of it while a GET is not
      // pending, so its count could not tell a missing limit from a busy
      // transport; over websocket nearly all 30 would arrive without one.
      const typist = await connect(server(), "/chat", mode, user("Typist"));
      const reader = await connect(server(), "/chat", "websocket", user("Reader"));
      for (const s of [typist, reader]) assert.equal(await outcome(s, "joinRoom", { room }), "ok");
      let seen = 0;
      let seenAtMessage = -1;
      reader.on("typing", () => seen++);
      const message = new Promise<void>((resolve) =>
        reader.on("newChatMessage", () => {
          seenAtMessage = seen;
          resolve();
        }),
      );
      for (let i = 0; i < 30; i++) typist.emit("typing", { room, isTyping: i % 2 === 0 });
      // A message the server handles after the typing events, and relays to
      // the reader after whatever typing it relayed (one socket, in order, and
      // a message is never dropped): once it arrives, every relayed typing
      // event has arrived before it.
      assert.equal(await outcome(typist, "chatMessage", { room, content: "done typing" }), "ok");
      await within(message, WAIT_MS, "the message after the typing burst");
      // Only the upper bound is exact: never more than the burst and what
      // refilled meanwhile (volatile relays may still drop some).
      assert.ok(seenAtMessage >= 1 && seenAtMessage <= 12, `${seenAtMessage} of 30 typing events relayed (burst 10)`);
      assert.equal(typist.connected, true);
    });

    it("disconnects a socket that keeps sending at 10x the limit", async () => {
      const s = await connect(server(), "/chat", mode, user("Mallory"));
      const reason = disconnected(s, 10_000);
      let stop = false;
      void reason.then(() => (stop = true));
      // joinRoom is 5/s: flood it at well over 50/s until the server gives up.
      const started = Date.now();
      while (!stop && Date.now() - started < 8000) {
        for (let i = 0; i < 20; i++) s.emit("joinRoom", { room: "flood" }, () => undefined);
        await new Promise((r) => setTimeout(r, 20)); // the sending rate of the flood, not synchronisation
      }
      assert.equal(await reason, "io server disconnect");
      const well = await connect(server(), "/chat", mode, user("Polite"));
      assert.equal(await outcome(well, "joinRoom", { room: "flood" }), "ok");
    });

    it("caps the connections of one user across namespaces", async () => {
      const u = user("Many");
      await connect(server(), "/chat", mode, u);
      await connect(server(), "/presence", mode, u);
      await connect(server(), "/chat", mode, u);
      const err = (await connect(server(), "/presence", mode, u).catch((e: unknown) => e)) as ConnectError;
      assert.equal(err.message, "rate_limited");
      assert.equal(err.data?.code, "rate_limited");
      await connect(server(), "/presence", mode, user("Other"));
    });
  });
}

describe("rate_limited ack shape", () => {
  it("is a failed Result with code rate_limited and a message", async () => {
    const s = await connect(server(), "/presence", "websocket", user("Status"));
    const results = await Promise.all(Array.from({ length: 8 }, () => call(s, "setStatus", { status: "away" })));
    const refused = results.find((r) => !r.ok);
    assert.ok(refused && !refused.ok, "setStatus is 2/s, burst 5");
    assert.deepEqual(Object.keys(refused.error).sort(), ["code", "message"]);
    assert.equal(refused.error.code, "rate_limited");
  });
});
