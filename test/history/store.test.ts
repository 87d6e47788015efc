import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { OUT_DIR, isolatedEnv, tempDir } from "../helpers/env.js";
import { rounded, storedFigures } from "../helpers/history.js";
import { writeClaudeTree } from "../helpers/transcripts.js";
import { runCli } from "../helpers/cli.js";
import { HistoryStore, historyPath } from "../../src/history/store.js";
import { HistoryIngest } from "../../src/history/ingest.js";
import { MIGRATIONS, SCHEMA_VERSION, migrate } from "../../src/history/schema.js";
import { loadDriver, type Database } from "../../src/history/sqlite.js";

const WRITER = join(OUT_DIR, "test", "helpers", "history-writer.js");

function integrity(home: string): string {
  const Driver = loadDriver();
  const db = new Driver(historyPath(home), { readonly: true });
  try {
    return db.pragma("integrity_check", { simple: true }) as string;
  } finally {
    db.close();
  }
}

async function cleanFigures(root: string, env: NodeJS.ProcessEnv) {
  const store = HistoryStore.open(join(root, "clean-home"), process.env);
  try {
    await new HistoryIngest(store, { env }).refresh();
    return rounded(storedFigures(store));
  } finally {
    store.close();
  }
}

function writer(home: string, env: NodeJS.ProcessEnv, sliceBytes: number) {
  const child = spawn(process.execPath, [WRITER, "--history-writer", home, JSON.stringify(env), String(sliceBytes)], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
  child.stderr.setEncoding("utf8").on("data", (d: string) => (err += d));
  const closed = once(child, "close");
  return { child, closed, out: () => out, err: () => err };
}

test("a writer SIGKILLed mid-ingest leaves a consistent database; the next refresh completes it without counting twice", async (t) => {
  const dir = tempDir();
  t.after(dir.cleanup);
  const env = { CLAUDE_CONFIG_DIR: writeClaudeTree(dir.path, 8, 600_000), HOME: join(dir.path, "nohome") };
  const want = await cleanFigures(dir.path, env);
  assert.ok(want["claude-code"]!.requests > 1000);
  const home = join(dir.path, "home");
  // kill at different points: before, during and between the small (32 KB) write transactions
  for (const delay of [30, 120, 250, 400]) {
    const w = writer(home, env, 32 * 1024);
    await new Promise<void>((resolve) => w.child.stdout.on("data", () => resolve()));
    await new Promise((r) => setTimeout(r, delay));
    w.child.kill("SIGKILL");
    await w.closed;
    assert.equal(integrity(home), "ok", `killed after ${delay} ms`);
  }
  const store = HistoryStore.open(home, process.env);
  t.after(() => store.close());
  await new HistoryIngest(store, { env }).refresh();
  assert.deepEqual(rounded(storedFigures(store)), want);
  assert.deepEqual(rounded(storedFigures(store, "usage_hour")), want);
});

test("two writers at once never corrupt the store nor count a response twice", async (t) => {
  const dir = tempDir();
  t.after(dir.cleanup);
  const env = { CLAUDE_CONFIG_DIR: writeClaudeTree(dir.path, 8, 400_000), HOME: join(dir.path, "nohome") };
  const want = await cleanFigures(dir.path, env);
  const home = join(dir.path, "home");
  const a = writer(home, env, 64 * 1024);
  const b = writer(home, env, 64 * 1024);
  const [ca, cb] = await Promise.all([a.closed, b.closed]);
  assert.deepEqual([ca[0], cb[0]], [0, 0], a.err() + b.err());
  assert.match(a.out(), /done \d+/);
  assert.match(b.out(), /done \d+/);
  const counted = Number(/done (\d+)/.exec(a.out())![1]) + Number(/done (\d+)/.exec(b.out())![1]);
  assert.equal(counted, want["claude-code"]!.requests, "each request counted by exactly one of them");
  assert.equal(integrity(home), "ok");
  const store = HistoryStore.open(home, process.env);
  t.after(() => store.close());
  assert.deepEqual(rounded(storedFigures(store)), want);
});

test("migrations: a database of the first schema is brought up to date with its data; a newer schema is refused", (t) => {
  const dir = tempDir();
  t.after(dir.cleanup);
  const home = dir.path;
  const Driver = loadDriver();
  const old: Database = new Driver(historyPath(home));
  assert.equal(migrate(old, 1).to, 1);
  old.exec("INSERT INTO sessions (id, provider, key) VALUES (7, 'codex', 's-1')");
  old.exec("INSERT INTO usage_hour (session, t, model, requests, input) VALUES (7, 492000, 0, 3, 1200)");
  old.close();
  const store = HistoryStore.open(home, process.env);
  assert.equal(store.db.pragma("user_version", { simple: true }), SCHEMA_VERSION);
  assert.equal(SCHEMA_VERSION, MIGRATIONS.length);
  assert.deepEqual(store.db.prepare("SELECT session, t, requests, input FROM usage_hour").all(), [{ session: 7, t: 492000, requests: 3, input: 1200 }]);
  assert.deepEqual(store.db.prepare("SELECT count(*) AS n FROM incidents").get(), { n: 0 }, "the version-2 tables exist");
  assert.deepEqual(store.db.prepare("SELECT count(*) AS n FROM usage_day").get(), { n: 0 }, "the version-3 table exists");
  assert.deepEqual(store.db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'responses'").all(), [], "version 4 dropped the responses' hour index");
  store.db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
  store.close();
  assert.throws(() => HistoryStore.open(home, process.env), {
    name: "HistoryError",
    message: `history database ${historyPath(home)}: schema version ${SCHEMA_VERSION + 1} is newer than this opensre-agents understands (${SCHEMA_VERSION}); upgrade opensre-agents`,
  });
});

test("the database file is private (0600)", (t) => {
  const dir = tempDir();
  t.after(dir.cleanup);
  HistoryStore.open(dir.path, process.env).close();
  assert.equal(statSync(historyPath(dir.path)).mode & 0o777, 0o600);
});

test("a corrupt database is a clear error for report, and never stops the dashboard or the watchdog", async (t) => {
  const dir = tempDir();
  t.after(dir.cleanup);
  const home = join(dir.path, "home");
  const env = isolatedEnv(home);
  await runCli(["agents", "report", "--store"], { env }); // creates the home and the store
  writeFileSync(historyPath(home), "this is not a database, just text that is long enough to be read as a header page....\n".repeat(100));
  const r = await runCli(["agents", "report"], { env });
  assert.equal(r.code, 1);
  assert.equal(r.stderr, `history database ${historyPath(home)} is corrupt (file is not a database); move it aside (mv ${historyPath(home)} ${historyPath(home)}.corrupt) and it is rebuilt from the transcripts on the next run\n`);
  const dash = await runCli(["agents"], { env });
  assert.equal(dash.code, 0, dash.stderr);
  const watch = await runCli(["agents", "watch", "--once"], { env });
  assert.equal(watch.code, 0, watch.stderr);
  assert.match(watch.stderr, /warning: history is off: history database .* is corrupt/);
});

test("without the SQLite driver, report says what is missing and how to get it; everything else works", async (t) => {
  const dir = tempDir();
  t.after(dir.cleanup);
  const env = isolatedEnv(join(dir.path, "home"), { OPENSRE_BETTER_SQLITE3: join(dir.path, "no-such-module") });
  const r = await runCli(["agents", "report"], { env });
  assert.equal(r.code, 1);
  assert.equal(
    r.stderr,
    `history needs the optional package better-sqlite3 (SQLite), which is not available: ${join(dir.path, "no-such-module")} is not installed\n` +
      "install it where opensre-agents is installed: npm install better-sqlite3@12 (it builds with a C++ compiler: build-essential and python3 on Debian/Ubuntu, Xcode command line tools on macOS); the dashboard and every other command work without it\n",
  );
  assert.equal((await runCli(["agents"], { env })).code, 0);
  assert.equal((await runCli(["agents", "budget"], { env })).code, 0);
  const watch = await runCli(["agents", "watch", "--once"], { env });
  assert.equal(watch.code, 0);
  assert.match(watch.stderr, /warning: history is off: history needs the optional package better-sqlite3/);
});

test("a database locked by another writer is a clear error, not a hang", async (t) => {
  const dir = tempDir();
  t.after(dir.cleanup);
  const home = join(dir.path, "home");
  const env = isolatedEnv(home);
  HistoryStore.open(home, process.env).close();
  const Driver = createRequire(import.meta.url)("better-sqlite3") as new (p: string) => Database;
  const holder = new Driver(historyPath(home));
  holder.exec("BEGIN EXCLUSIVE");
  t.after(() => holder.close());
  const r = await runCli(["agents", "report"], { env, timeoutMs: 30_000 });
  assert.equal(r.code, 1);
  assert.equal(r.stderr, `history database ${historyPath(home)} is locked by another process (busy for over 5s); try again\n`);
});

test("response keys are stored in any number at once: each new key is reported new exactly once", (t) => {
  const dir = tempDir();
  t.after(dir.cleanup);
  const store = HistoryStore.open(join(dir.path, "home"), process.env);
  t.after(() => store.close());
  let next = 1;
  for (let n = 0; n <= 130; n++) {
    // n new keys, each also repeated once among them and once from the previous round
    const fresh = Array.from({ length: n }, () => [next++, 500_000] as const);
    const keys = [...fresh, ...fresh.slice(0, Math.ceil(n / 2)), ...(next - n - 1 >= 1 ? [[next - n - 1, 500_000] as const] : [])];
    const added = store.write(() => store.addResponseKeys(keys));
    assert.deepEqual([...added].sort((a, b) => a - b), fresh.map(([k]) => k), `${n} new keys among ${keys.length}`);
  }
  assert.equal(store.db.prepare<[], { n: number }>("SELECT count(*) AS n FROM responses").get()!.n, next - 1);
});
