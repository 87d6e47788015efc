import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describeMismatch, fromReadme, linesMatch, normaliseLine, parseExamples, README, realign, runExample, toReadme } from "./examples.js";

/** Every README example marked `<!-- check: FIXTURE -->` prints what the README shows (docs/readme-examples.md). */
const examples = parseExamples(readFileSync(README, "utf8"));

test("the README has checked examples", () => {
  assert.ok(examples.length >= 4, `only ${examples.length} checked examples`);
});

for (const example of examples) {
  test(`README.md:${example.line} (${example.fixture}): ${example.body[0] ?? ""}`, async () => {
    const r = await runExample(example);
    assert.ok(r.ok, describeMismatch(r));
  });
}

test("the checker's normalisation: volatile values, padding, wildcards, literals", () => {
  assert.equal(normaliseLine("claude-code  6157  2s      0     2M   1s ago"), "claude-code  6157  <dur>  0  <size>  <dur>");
  assert.equal(normaliseLine("opened     2026-11-25T02:32:29.957Z (1s ago)"), "opened  <time> (<dur>)");
  // a slow run crosses a minute: the same normalised line
  assert.equal(normaliseLine("auth-fixer   5864  1m01s   0     2M   1m00s ago    waiting"), "auth-fixer  5864  <dur>  0  <size>  <dur>  waiting");
  assert.equal(normaliseLine("claude-code  6157  1h12m   0     2M   1h02m ago    idle"), "claude-code  6157  <dur>  0  <size>  <dur>  idle");
  assert.equal(normaliseLine("published 8e79f88b-937b-48ac-aa86-df517bde55e7"), "published <uuid>");
  assert.equal(normaliseLine("^C2026-11-25T02:44:00Z stopped"), "<time> stopped");
  assert.equal(linesMatch(["a", "…", "z"], ["a", "b", "c", "z"]), true);
  assert.equal(linesMatch(["a", "…", "z"], ["a", "b"]), false);
  assert.equal(linesMatch(["a"], ["a", "b"]), false);
  const vars = new Map([["/home/dev", "/tmp/x/home/dev"], ["5864", "123456"]]);
  assert.equal(toReadme("pid 123456 in /tmp/x/home/dev/shop", vars), "pid 5864 in /home/dev/shop");
  // one pass: a day and the day after, each moved by one day, do not chain (whatever order the pairs come in)
  for (const days of [new Map([["2026-11-20", "2026-11-21"], ["2026-11-21", "2026-11-22"]]), new Map([["2026-11-21", "2026-11-22"], ["2026-11-20", "2026-11-21"]])]) {
    assert.equal(toReadme("from 2026-11-21 00:00 to 2026-11-22 00:00", days), "from 2026-11-20 00:00 to 2026-11-21 00:00");
    assert.equal(fromReadme("--since 2026-11-20 --until 2026-11-21", days), "--since 2026-11-21 --until 2026-11-22");
  }
  // a pid is replaced where it stands alone, never inside a longer number (a run once had pid 20250 beside claude-sonnet-4-5-20250929)
  const pid = new Map([["6157", "20250"]]);
  assert.equal(toReadme("claude-code (pid 20250) · model claude-sonnet-4-5-20250929 · /proc/20250/fd/1", pid), "claude-code (pid 6157) · model claude-sonnet-4-5-20250929 · /proc/6157/fd/1");
  assert.equal(fromReadme("opensre agents trace 6157 --tail 61570", pid), "opensre agents trace 20250 --tail 61570");
  assert.deepEqual(realign(["agent  pid     status", "a      123456  ok", "bb     5864    ok"]), ["agent  pid     status", "a      123456  ok", "bb     5864    ok"]);
  assert.deepEqual(realign(["agent  pid  status", "a  5864  ok"]), ["agent  pid   status", "a      5864  ok"]);
});
