import assert from "node:assert/strict";
import { test } from "node:test";
import { TypingThrottle, type Clock } from "../src/typing.js";

/** A clock the test advances by hand. */
function manualClock(): Clock & { advance(ms: number): void } {
  let now = 0;
  let timers: { at: number; f: () => void; id: number }[] = [];
  let next = 0;
  return {
    now: () => now,
    setTimeout(f, ms) {
      const id = ++next;
      timers.push({ at: now + ms, f, id });
      return id;
    },
    clearTimeout(h) {
      timers = timers.filter((t) => t.id !== h);
    },
    advance(ms) {
      const until = now + ms;
      for (;;) {
        const due = timers.filter((t) => t.at <= until).sort((a, b) => a.at - b.at)[0];
        if (due === undefined) break;
        timers = timers.filter((t) => t !== due);
        now = due.at;
        due.f();
      }
      now = until;
    },
  };
}

test("keystrokes send true at once, then at most once per interval; idle sends one false", () => {
  const clock = manualClock();
  const sent: string[] = [];
  const t = new TypingThrottle((room, on) => sent.push(`${room}:${on}`), { intervalMs: 2000, idleMs: 3000 }, clock);
  for (let i = 0; i < 30; i++) {
    t.keystroke("r"); // 30 keystrokes, 100 ms apart: 3 s of typing
    clock.advance(100);
  }
  assert.deepEqual(sent, ["r:true", "r:true"]);
  clock.advance(2799); // the last keystroke was at 2900: idle ends at 5900
  assert.deepEqual(sent, ["r:true", "r:true"]);
  clock.advance(200);
  assert.deepEqual(sent, ["r:true", "r:true", "r:false"]);
});

test("stop sends false once, and only after a true", () => {
  const clock = manualClock();
  const sent: string[] = [];
  const t = new TypingThrottle((room, on) => sent.push(`${room}:${on}`), {}, clock);
  t.stop("r");
  assert.deepEqual(sent, []);
  t.keystroke("r");
  t.stop("r");
  t.stop("r");
  clock.advance(10_000);
  assert.deepEqual(sent, ["r:true", "r:false"]);
});

test("rooms are independent; reset and forget send nothing", () => {
  const clock = manualClock();
  const sent: string[] = [];
  const t = new TypingThrottle((room, on) => sent.push(`${room}:${on}`), {}, clock);
  t.keystroke("a");
  t.keystroke("b");
  t.forget("a");
  t.reset();
  clock.advance(10_000);
  assert.deepEqual(sent, ["a:true", "b:true"]);
});
