import assert from "node:assert/strict";
import { test } from "node:test";
import { compareIds, newClientMsgId } from "../src/index.js";

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

test("newClientMsgId makes distinct v4 UUIDs, also without crypto.randomUUID (insecure contexts)", (t) => {
  const ids = new Set(Array.from({ length: 100 }, newClientMsgId));
  assert.equal(ids.size, 100);
  for (const id of ids) assert.match(id, UUID_V4);
  const randomUUID = globalThis.crypto.randomUUID;
  t.after(() => void Object.defineProperty(globalThis.crypto, "randomUUID", { value: randomUUID, configurable: true }));
  Object.defineProperty(globalThis.crypto, "randomUUID", { value: undefined, configurable: true });
  const fallback = newClientMsgId();
  assert.match(fallback, UUID_V4);
  assert.notEqual(fallback, newClientMsgId());
});

test("compareIds orders UUIDv7 ids by time", () => {
  const ids = [
    "01a2151e-9943-72e0-8418-138987b40c75",
    "01a2151e-9943-72e0-8418-138987b40c74",
    "0190a000-0000-7000-8000-000000000001",
  ];
  assert.deepEqual([...ids].sort(compareIds), [ids[2], ids[1], ids[0]]);
  assert.equal(compareIds(ids[0]!, ids[0]!), 0);
});
