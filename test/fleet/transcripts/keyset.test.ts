import assert from "node:assert/strict";
import { test } from "node:test";
import { HashedKeySet, hash53 } from "../../../src/fleet/transcripts/keyset.js";

test("HashedKeySet never forgets a key (no de-duplication cliff) and forgets by owner", () => {
  const s = new HashedKeySet(16);
  // far past any old generation size: the first key is still there
  for (let i = 0; i < 1_000_000; i++) assert.equal(s.add(`claude:msg_${i}`, 1 + (i % 3)), true);
  assert.equal(s.size, 1_000_000);
  assert.equal(s.has("claude:msg_0"), true);
  assert.equal(s.has("claude:msg_999999"), true);
  assert.equal(s.has("claude:msg_1000000"), false);
  assert.equal(s.add("claude:msg_0", 9), false, "a replay is recognised");
  // the stated bound: at most 48 bytes per key
  assert.ok(s.bytes <= 48 * s.size, `${s.bytes} bytes for ${s.size} keys`);
  s.forgetOwner(1);
  assert.equal(s.has("claude:msg_0"), false);
  assert.equal(s.has("claude:msg_1"), true);
  assert.equal(s.size, 666_666);
});

test("hash53 is a deterministic 53-bit non-zero integer that separates near keys", () => {
  assert.equal(hash53("a"), hash53("a"));
  assert.notEqual(hash53("claude:msg_1:req_12"), hash53("claude:msg_11:req_2"));
  const seen = new Set<number>();
  for (let i = 0; i < 100_000; i++) {
    const h = hash53(`k${i}`);
    assert.ok(Number.isSafeInteger(h) && h > 0);
    seen.add(h);
  }
  assert.equal(seen.size, 100_000);
});
