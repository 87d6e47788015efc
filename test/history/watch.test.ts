import { test } from "node:test";
import assert from "node:assert/strict";
import { appendFileSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { FIXTURES, tempDir } from "../helpers/env.js";
import { copyFixtures, liveFigures, rounded, storedFigures } from "../helpers/history.js";
import { HistoryStore } from "../../src/history/store.js";
import { HistoryIngest } from "../../src/history/ingest.js";
import { MAX_CHANGED, MAX_WATCHED_DIRS, TranscriptWatch } from "../../src/history/watch.js";

const CLAUDE = "claude/projects/-home-dev-shop/7b1e5a3c-2f4d-4c7e-9a61-0d3f8e2b9c10.jsonl";

/** One more response of the fixture's Claude session, under a new message id. */
function response(n: number): string {
  const line = readFileSync(join(FIXTURES, "claude-code", CLAUDE.slice("claude/".length)), "utf8")
    .split("\n")
    .find((l) => l.includes('"usage"') && l.includes('"assistant"') && !l.includes("isApiErrorMessage"))!;
  return line.replace(/"id":"msg_[^"]*"/, `"id":"msg_watch_${n}"`) + "\n";
}

test("a watching ingest stats only what was written, and sees appends, new files and replaced files at the next refresh", async (t) => {
  const dir = tempDir();
  const fx = copyFixtures(dir.path);
  const store = HistoryStore.open(join(dir.path, "home"), process.env);
  const ingest = new HistoryIngest(store, { env: fx.env, watch: true });
  ingest.addAiderRoot(fx.aiderRoot);
  t.after(() => {
    ingest.close();
    store.close();
    dir.cleanup();
  });
  assert.equal((await ingest.refresh()).changed, 4, "the first refresh looks at everything");
  const before = storedFigures(store)["claude-code"]!.requests;

  assert.equal((await ingest.refresh()).changed, 0);
  appendFileSync(join(dir.path, CLAUDE), response(1));
  const r = await ingest.refresh();
  assert.equal(r.changed, 1, "the append is seen at once");
  assert.equal(r.requests, 1);
  assert.equal(storedFigures(store)["claude-code"]!.requests, before + 1);

  // a new session file (an entry created in a watched folder) is found at the next refresh
  const fresh = join(dir.path, "claude/projects/-home-dev-shop/aaaaaaaa-2f4d-4c7e-9a61-0d3f8e2b9c10.jsonl");
  writeFileSync(fresh, response(2));
  assert.equal((await ingest.refresh()).requests, 1);
  // a replaced file (renamed over) is read again from its start; its responses already counted count nothing
  const tmp = fresh + ".tmp";
  writeFileSync(tmp, response(2) + response(3));
  renameSync(tmp, fresh);
  assert.equal((await ingest.refresh()).requests, 1);
  assert.equal(storedFigures(store)["claude-code"]!.requests, before + 3);
  // and everything still equals the live view's counts (Aider's cost is its per-message statements, docs/history.md)
  const live = await liveFigures(fx.env, fx.aiderRoot);
  if (live.aider) live.aider.usd = 0.01 + 0.0049;
  assert.deepEqual(rounded(storedFigures(store)), rounded(live));
});

test("the watch gives up past its bounds: more folders than MAX_WATCHED_DIRS or more changes than MAX_CHANGED mean a full look", async (t) => {
  const dir = tempDir();
  t.after(() => dir.cleanup());
  const few = new TranscriptWatch();
  t.after(() => few.close());
  mkdirSync(join(dir.path, "a"));
  const file = join(dir.path, "a", "s.jsonl");
  writeFileSync(file, "{}\n");
  assert.equal(few.needsFullLook(), true, "nothing looked at yet");
  few.watchAll([file]);
  assert.equal(few.needsFullLook(), false);
  appendFileSync(file, "{}\n");
  for (let i = 0; i < 2; i++) await new Promise((r) => setImmediate(r));
  assert.deepEqual(few.take(), [file]);
  assert.equal(few.needsFullLook(), false);

  // more changed files than it keeps
  for (let i = 0; i <= MAX_CHANGED; i++) (few as unknown as { onEvent(d: string, e: string, n: string): void }).onEvent(join(dir.path, "a"), "change", `f${i}.jsonl`);
  assert.equal(few.needsFullLook(), true);

  // more folders than it watches: it watches none, and every refresh looks at everything
  const many = new TranscriptWatch();
  t.after(() => many.close());
  const paths: string[] = [];
  for (let i = 0; i <= MAX_WATCHED_DIRS; i++) {
    mkdirSync(join(dir.path, "many", String(i)), { recursive: true });
    paths.push(join(dir.path, "many", String(i), "s.jsonl"));
  }
  many.watchAll(paths);
  assert.equal(many.needsFullLook(), true);
});

test("a full look at least every FULL_LOOK_MS, events or not", async (t) => {
  let clock = 0;
  const dir = tempDir();
  const w = new TranscriptWatch(() => clock);
  t.after(() => {
    w.close();
    dir.cleanup();
  });
  w.watchAll([join(dir.path, "s.jsonl")]);
  assert.equal(w.needsFullLook(), false);
  clock += 5 * 60_000;
  assert.equal(w.needsFullLook(), true);
});
