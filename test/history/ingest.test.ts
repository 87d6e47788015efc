import { test } from "node:test";
import assert from "node:assert/strict";
import { appendFileSync, cpSync, readFileSync, readdirSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../helpers/env.js";
import { copyFixtures, liveFigures, realFixtures, rounded, storedFigures } from "../helpers/history.js";
import { HistoryStore } from "../../src/history/store.js";
import { HistoryIngest } from "../../src/history/ingest.js";
import { WARMUP_BYTES } from "../../src/history/parse.js";
import { writeClaudeTree } from "../helpers/transcripts.js";
import { FIXTURES } from "../helpers/env.js";

function storedFiguresOf(home: string) {
  const store = HistoryStore.open(home, process.env);
  try {
    return storedFigures(store);
  } finally {
    store.close();
  }
}

const CLAUDE = "claude/projects/-home-dev-shop/7b1e5a3c-2f4d-4c7e-9a61-0d3f8e2b9c10.jsonl";

function setup(t: { after: (f: () => void) => void }) {
  const dir = tempDir();
  const stores: HistoryStore[] = [];
  t.after(() => {
    for (const s of stores) s.close();
    dir.cleanup();
  });
  const fx = copyFixtures(dir.path);
  const home = join(dir.path, "home");
  /** A new process's view: a fresh connection and ingest over the same database (`now`: its clock). */
  const open = (filter = true, now?: () => number) => {
    const store = HistoryStore.open(home, process.env);
    stores.push(store);
    const ingest = new HistoryIngest(store, { env: fx.env, filter, now });
    ingest.addAiderRoot(fx.aiderRoot);
    return { store, ingest };
  };
  return { dir: dir.path, home, ...fx, open };
}

/** The live view's figures, with Aider's cost as the sum of its per-message statements (see docs/history.md). */
async function expected(env: NodeJS.ProcessEnv, aiderRoot: string) {
  const live = await liveFigures(env, aiderRoot);
  if (live.aider) live.aider.usd = 0.01 + 0.0049;
  return rounded(live);
}

/** A clock a day after the fixtures' records (2026-11-20): their minutes are within retention. */
const FIXTURE_DAY_AFTER = () => Date.parse("2026-11-21T12:00:00Z");

test("backfill equals the live view's counts on every fixture, with and without the line filter; minute and hour rows agree", async (t) => {
  for (const filter of [true, false]) {
    const s = setup(t);
    const { store, ingest } = s.open(filter, FIXTURE_DAY_AFTER);
    const stats = await ingest.refresh();
    assert.equal(stats.files, 4);
    assert.equal(stats.changed, 4);
    assert.deepEqual(ingest.drainWarnings(), []);
    const want = await expected(s.env, s.aiderRoot);
    assert.deepEqual(rounded(storedFigures(store, "usage_minute")), want, `filter ${filter}`);
    assert.deepEqual(rounded(storedFigures(store, "usage_hour")), want);
    assert.equal(want["claude-code"]!.requests, 3);
    assert.equal(want["claude-code"]!.errors, 1);
    assert.equal(want["claude-code"]!.output, 447);
    const again = await ingest.refresh();
    assert.equal(again.changed, 0, "nothing new: nothing read");
    assert.equal(again.bytes, 0);
  }
});

test("usage older than the minute retention is counted into hours and days only: a backfill writes no minute row that pruning would delete", async (t) => {
  const s = setup(t);
  // the same records read 15 days later (MINUTE_RETENTION_DAYS is 14), then 13 days later
  const late = s.open(true, () => Date.parse("2026-12-05T12:00:00Z"));
  await late.ingest.refresh();
  const want = await expected(s.env, s.aiderRoot);
  assert.deepEqual(rounded(storedFigures(late.store, "usage_hour")), want);
  assert.equal(late.store.db.prepare<[], { n: number }>("SELECT count(*) AS n FROM usage_minute").get()!.n, 0);
  assert.ok(late.store.db.prepare<[], { n: number }>("SELECT count(*) AS n FROM usage_day").get()!.n > 0);
  const s2 = setup(t);
  const recent = s2.open(true, () => Date.parse("2026-12-03T12:00:00Z"));
  await recent.ingest.refresh();
  assert.deepEqual(rounded(storedFigures(recent.store, "usage_minute")), want);
});

test("a response written over two refreshes, by two processes, counts once; a copy in a resumed session file counts once", async (t) => {
  const s = setup(t);
  const path = join(s.dir, CLAUDE);
  await s.open().ingest.refresh();
  const line = (output: number) =>
    JSON.stringify({ type: "assistant", timestamp: "2026-11-20T10:29:00.000Z", cwd: "/home/dev/shop", sessionId: "7b1e5a3c-2f4d-4c7e-9a61-0d3f8e2b9c10", requestId: "req_new", message: { id: "msg_new", model: "claude-sonnet-4-5-20250929", content: [{ type: "text", text: "done" }], usage: { input_tokens: 1000, output_tokens: output } } }) + "\n";
  appendFileSync(path, line(100));
  const first = s.open();
  await first.ingest.refresh();
  assert.equal(storedFigures(first.store)["claude-code"]!.output, 447 + 100);
  // the same response's next line, with its final usage, read by another process
  appendFileSync(path, line(150));
  const second = s.open();
  await second.ingest.refresh();
  // a resumed session copies the conversation into a new file
  const copy = join(s.dir, "claude/projects/-home-dev-shop/0d3f8e2b-9c10-4c7e-9a61-7b1e5a3c2f4d.jsonl");
  writeFileSync(copy, readFileSync(path));
  await s.open().ingest.refresh();
  const stored = rounded(storedFigures(second.store));
  const want = await expected(s.env, s.aiderRoot);
  assert.deepEqual(stored, want);
  assert.equal(stored["claude-code"]!.output, 447 + 150);
  assert.equal(stored["claude-code"]!.input, 26 + 1000);
  assert.equal(stored["claude-code"]!.requests, 4);
});

test("a last line without its newline is counted once, as the live view counts it, also when the newline comes later", async (t) => {
  const s = setup(t);
  const path = join(s.dir, CLAUDE);
  const line = (id: string) =>
    JSON.stringify({ type: "assistant", timestamp: "2026-11-20T10:29:00.000Z", cwd: "/home/dev/shop", sessionId: "7b1e5a3c-2f4d-4c7e-9a61-0d3f8e2b9c10", requestId: `req_${id}`, message: { id: `msg_${id}`, model: "claude-sonnet-4-5-20250929", content: [{ type: "text", text: "done" }], usage: { input_tokens: 1000, output_tokens: 10 } } });
  appendFileSync(path, line("tail"));
  const first = s.open();
  await first.ingest.refresh();
  assert.deepEqual(rounded(storedFigures(first.store)), await expected(s.env, s.aiderRoot));
  assert.equal(storedFigures(first.store)["claude-code"]!.input, 26 + 1000, "the unterminated last record counts now");
  appendFileSync(path, "\n" + line("next") + "\n");
  const { store, ingest } = s.open();
  await ingest.refresh();
  assert.deepEqual(rounded(storedFigures(store)), await expected(s.env, s.aiderRoot));
  assert.equal(storedFigures(store)["claude-code"]!.input, 26 + 2000);
});

test("the re-read before a stored offset is bounded and restores the adapter's state (Codex's cumulative total)", async (t) => {
  const s = setup(t);
  await s.open().ingest.refresh();
  const dir = join(s.dir, "codex/sessions/2026/11/20");
  const file = join(dir, readdirSync(dir)[0]!);
  const lines = readFileSync(file, "utf8").trim().split("\n");
  const lastCount = lines.filter((l) => l.includes('"token_count"') && l.includes('"total_token_usage"')).pop()!;
  // Codex repeats a token_count when nothing changed: counted once, also across processes
  appendFileSync(file, lastCount.replace(/"timestamp":"[^"]+"/, '"timestamp":"2026-11-20T10:07:00.000Z"') + "\n");
  const { store, ingest } = s.open();
  await ingest.refresh();
  assert.deepEqual(rounded(storedFigures(store)), await expected(s.env, s.aiderRoot));
  assert.equal(storedFigures(store).codex!.requests, 2);
  assert.ok(WARMUP_BYTES <= 1024 * 1024, "the re-read is small");
});

test("a truncated transcript is read again from the start: a warning, and its responses are not counted twice", async (t) => {
  const s = setup(t);
  const { store, ingest } = s.open();
  await ingest.refresh();
  const path = join(s.dir, CLAUDE);
  const text = readFileSync(path, "utf8");
  truncateSync(path, 0);
  appendFileSync(path, text.split("\n").slice(0, 3).join("\n") + "\n");
  await ingest.refresh();
  assert.deepEqual(ingest.drainWarnings(), [`${path}: truncated; counting it again from the start (responses already counted are not counted twice)`]);
  assert.equal(storedFigures(store)["claude-code"]!.output, 447);
});

test("a backfill on worker threads counts exactly what an in-process one counts, per session, in the live view's file order", async (t) => {
  const dir = tempDir();
  t.after(dir.cleanup);
  const fx = copyFixtures(dir.path);
  const env = { ...fx.env, CLAUDE_CONFIG_DIR: writeClaudeTree(dir.path, 12, 300_000) };
  cpSync(join(FIXTURES, "claude-code", "projects"), join(env.CLAUDE_CONFIG_DIR, "projects"), { recursive: true });
  const perSession = (store: HistoryStore) =>
    store.db.prepare("SELECT s.provider, s.key, sum(requests) AS r, sum(errors) AS e, sum(output) AS o, sum(cache_read) AS cr, round(sum(usd), 6) AS usd, sum(turns) AS turns FROM usage_hour u JOIN sessions s ON s.id = u.session GROUP BY s.id ORDER BY s.provider, s.key").all();
  const results = [];
  for (const threads of [1, 2]) {
    const store = HistoryStore.open(join(dir.path, `home${threads}`), process.env);
    t.after(() => store.close());
    const ingest = new HistoryIngest(store, { env, threads, parallelMinBytes: 0, sliceBytes: 64 * 1024 });
    ingest.addAiderRoot(fx.aiderRoot);
    await ingest.refresh();
    assert.deepEqual(ingest.drainWarnings(), []);
    results.push(perSession(store));
  }
  assert.deepEqual(results[1], results[0]);
  assert.ok(results[0]!.length >= 14);
  assert.deepEqual(rounded(storedFiguresOf(join(dir.path, "home2"))), await expected(env, fx.aiderRoot));
});

test("real agent records: history counts what the live view counts", async (t) => {
  const real = realFixtures();
  if (!real) return t.skip("no real agent records in this checkout (test/fixtures/real or ../shared/fixtures/real)");
  const dir = tempDir();
  t.after(dir.cleanup);
  const env: NodeJS.ProcessEnv = { HOME: join(dir.path, "nohome") };
  for (const name of readdirSync(real)) {
    if (name.startsWith("claude-code")) {
      cpSync(join(real, name), join(dir.path, "claude"), { recursive: true });
      env.CLAUDE_CONFIG_DIR = join(dir.path, "claude");
    } else if (name.startsWith("codex")) {
      cpSync(join(real, name), join(dir.path, "codex"), { recursive: true });
      env.CODEX_HOME = join(dir.path, "codex");
    } else if (name.startsWith("gemini")) {
      cpSync(join(real, name), join(dir.path, "gemini"), { recursive: true });
      env.GEMINI_DIR = join(dir.path, "gemini");
    }
  }
  const store = HistoryStore.open(join(dir.path, "home"), process.env);
  t.after(() => store.close());
  await new HistoryIngest(store, { env }).refresh();
  const live = rounded(await liveFigures(env));
  const stored = rounded(storedFigures(store));
  for (const [provider, f] of Object.entries(live)) {
    if (f.requests + f.errors === 0) continue; // nothing to count
    assert.deepEqual(stored[provider], f, provider);
  }
  assert.ok(Object.values(live).some((f) => f.requests + f.errors > 0), "the real records hold responses or API errors");
});
