import assert from "node:assert/strict";
import { test } from "node:test";
import { HashedKeySet, hash53 } from "../../../src/fleet/transcripts/keyset.js";

test("HashedKeySet remembers the most recent keys, forgets the oldest generation, and forgets by owner", () => {
  const s = new HashedKeySet(1000);
  for (let i = 0; i < 500; i++) s.add(`claude:msg_${i}:req_${i}`, 1);
  assert.equal(s.size, 500);
  assert.equal(s.has("claude:msg_0:req_0"), true);
  assert.equal(s.has("claude:msg_500:req_500"), false);
  // adding a known key again changes nothing
  s.add("claude:msg_1:req_1", 2);
  assert.equal(s.size, 500);
  // the next 500 fill a new generation; the first 500 are still remembered
  for (let i = 500; i < 1000; i++) s.add(`claude:msg_${i}:req_${i}`, 2);
  assert.equal(s.has("claude:msg_0:req_0"), true);
  assert.equal(s.has("claude:msg_999:req_999"), true);
  // one more generation: the first 500 are forgotten
  s.add("claude:msg_1000:req_1000", 3);
  assert.equal(s.has("claude:msg_0:req_0"), false);
  assert.equal(s.has("claude:msg_999:req_999"), true);
  assert.equal(s.has("claude:msg_1000:req_1000"), true);
  s.forgetOwner(2);
  assert.equal(s.has("claude:msg_999:req_999"), false);
  assert.equal(s.has("claude:msg_1000:req_1000"), true);
  assert.equal(s.size, 1);
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
