import assert from "node:assert/strict";
import { test } from "node:test";
import { createStore } from "../src/store.js";

test("getState is stable until a change, and listeners get (state, previous)", () => {
  const store = createStore({ n: 0 });
  const first = store.getState();
  assert.equal(store.getState(), first);
  const calls: [number, number][] = [];
  const unsubscribe = store.subscribe((s, prev) => calls.push([s.n, prev.n]));
  store.update((s) => s); // no change: no call
  store.update((s) => ({ n: s.n + 1 }));
  assert.notEqual(store.getState(), first);
  assert.equal(store.getInitialState(), first);
  unsubscribe();
  store.update((s) => ({ n: s.n + 1 }));
  assert.deepEqual(calls, [[1, 0]]);
});

test("methods work detached, as useSyncExternalStore(store.subscribe, store.getState) calls them", () => {
  const store = createStore({ n: 0 });
  const { subscribe, getState } = store;
  let seen = -1;
  const off = subscribe(() => (seen = getState().n));
  store.update(() => ({ n: 7 }));
  off();
  assert.equal(seen, 7);
});

test("a listener that unsubscribes while notified does not disturb the others", () => {
  const store = createStore({ n: 0 });
  const order: string[] = [];
  const offA = store.subscribe(() => {
    order.push("a");
    offA();
  });
  store.subscribe(() => order.push("b"));
  store.update(() => ({ n: 1 }));
  store.update(() => ({ n: 2 }));
  assert.deepEqual(order, ["a", "b", "b"]);
});
