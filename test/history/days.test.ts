import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { tempDir } from "../helpers/env.js";
import { COUNTER_INDEX as C, DAY_ZONE_META, HOUR_MS, MINUTE_MS, newCounters, TURN_MAX, TURN_MIN, HistoryStore, storeInfo } from "../../src/history/store.js";
import { buildReport, GROUP_BY, type GroupBy, type Report } from "../../src/history/report.js";
import { latencyBucket, migrate } from "../../src/history/schema.js";
import { prune } from "../../src/history/retention.js";
import { loadDriver, type Database } from "../../src/history/sqlite.js";
import { historyPath } from "../../src/history/store.js";
import { zoneId } from "../../src/history/calendar.js";

/**
 * Reports read whole local days from the day table and the edges from minute or hour rows.
 * Whatever the range, the zone (half-hour offsets, daylight saving) and the grouping, the
 * figures must be exactly those read from the minute or hour rows alone.
 */

const DAY_MS = 24 * HOUR_MS;
const NOW = Date.parse("2026-11-25T12:34:00Z");

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** 420 days of usage from 6 sessions (2 named agents), 4 models; denser in the last two weeks. */
function fill(store: HistoryStore, seed: number): void {
  const r = rng(seed);
  store.write(() => {
    const sessions = [0, 1, 2, 3, 4, 5].map((i) =>
      store.sessionId({ provider: ["claude-code", "codex", "gemini"][i % 3]!, key: `k${i}`, sessionId: `s${i}-0000-aaaa`, parentSessionId: null, cwd: i % 2 ? `/work/p${i % 3}` : null }),
    );
    store.nameSession(sessions[0]!, "auth-fixer");
    store.nameSession(sessions[3]!, "auth-fixer");
    store.nameSession(sessions[4]!, "docs");
    const models = ["m-a", "m-b", "m-c", ""].map((m) => store.modelId(m));
    const batch = store.usageBatch();
    for (let i = 0; i < 3000; i++) {
      const back = i < 1000 ? r() * 15 * DAY_MS : r() * 420 * DAY_MS;
      const minute = Math.floor((NOW - back) / MINUTE_MS);
      const c = newCounters();
      c[C.requests] = 1 + Math.floor(r() * 4);
      c[C.errors] = r() < 0.1 ? 1 : 0;
      c[C.input] = Math.floor(r() * 5000);
      c[C.output] = Math.floor(r() * 900);
      c[C.cache_read] = Math.floor(r() * 40000);
      c[C.usd] = Math.round(r() * 1e4) / 1e6;
      if (r() < 0.3) {
        const ms = Math.floor(r() * 120_000);
        c[C.turns] = 1;
        c[C.turn_ms] = ms;
        c[C.lat0 + latencyBucket(ms)] = 1;
        c[TURN_MIN] = ms;
        c[TURN_MAX] = ms;
      }
      batch.add(sessions[Math.floor(r() * 6)]!, minute, models[Math.floor(r() * 4)]!, c);
      if (batch.size >= 500) batch.flush();
    }
    batch.flush();
  });
}

/** A report with costs rounded to the micro-dollar (sums in another order differ in the last bits). */
function norm(rep: Report): unknown {
  return JSON.parse(JSON.stringify(rep, (k, v) => (k === "usd" ? Math.round(v * 1e6) / 1e6 : v)));
}

const RANGES: Array<[string, number | null, number | null]> = [
  ["all history", null, null],
  ["a year ago to now", NOW - 365 * DAY_MS, null],
  ["mid-hour to mid-hour, months", Date.parse("2026-01-03T05:17:00Z"), Date.parse("2026-07-19T22:41:00Z")],
  ["within the minutes kept", NOW - 10 * DAY_MS - 7 * MINUTE_MS, NOW - 2 * DAY_MS + 13 * MINUTE_MS],
  ["less than a day", NOW - 20 * HOUR_MS, NOW - 3 * HOUR_MS],
  ["daylight saving changes", Date.parse("2026-03-07T00:00:00Z"), Date.parse("2026-11-03T00:00:00Z")],
];

function reportsAgree(store: HistoryStore, zone: string, groups: readonly GroupBy[] = GROUP_BY): void {
  for (const [what, since, until] of RANGES) {
    for (const by of groups) {
      const q = { by, since, until, now: NOW };
      assert.equal(store.daysCurrent(), true, zone);
      const fast = norm(buildReport(store, q));
      store.write(() => store.putMeta(DAY_ZONE_META, "")); // reports read minute or hour rows alone
      const slow = norm(buildReport(store, q));
      store.write(() => store.putMeta(DAY_ZONE_META, zone));
      assert.deepEqual(fast, slow, `${zone}: ${what}, by ${by}`);
    }
  }
}

for (const zone of ["UTC", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"]) {
  test(`reports from the day table equal reports from minute and hour rows (${zone})`, (t) => {
    const was = process.env.TZ;
    process.env.TZ = zone;
    t.after(() => (process.env.TZ = was));
    const dir = tempDir();
    t.after(dir.cleanup);
    const store = HistoryStore.open(join(dir.path, "home"), process.env);
    t.after(() => store.close());
    fill(store, zone.length);
    assert.equal(store.getMeta(DAY_ZONE_META), zoneId(), "the first writer's zone claims the day table");
    const info = storeInfo(store);
    assert.ok(info.dayRows > 0 && info.dayRows < info.hourRows, `${info.dayRows} day rows, ${info.hourRows} hour rows`);
    reportsAgree(store, zoneId());
    // pruning removes whole days with their hours; figures still agree
    prune(store, NOW, { minuteDays: 14, hourDays: 200 });
    assert.equal(store.daysCurrent(), true);
    reportsAgree(store, zoneId(), ["agent", "model", "day", "week"]);
    // the day rows are what the report reads for whole days
    const all = { by: "provider" as const, since: null, until: null, now: NOW };
    const before = buildReport(store, all).total.requests;
    const dayRows = store.write(() => store.db.prepare("UPDATE usage_day SET requests = requests + 1").run().changes);
    assert.ok(dayRows > 0);
    const after = buildReport(store, all).total.requests;
    assert.ok(after > before && after <= before + dayRows, `${before} → ${after}`);
  });
}

test("usage written in another zone marks the day table stale; a rebuild brings it back in the reader's zone", (t) => {
  const was = process.env.TZ;
  t.after(() => (process.env.TZ = was));
  process.env.TZ = "Asia/Kolkata";
  const dir = tempDir();
  t.after(dir.cleanup);
  const store = HistoryStore.open(join(dir.path, "home"), process.env);
  t.after(() => store.close());
  fill(store, 7);
  process.env.TZ = "America/New_York";
  assert.equal(store.daysCurrent(), false, "a day table of another zone is not read");
  const q = { by: "day" as const, since: NOW - 100 * DAY_MS, until: null, now: NOW };
  const hoursOnly = norm(buildReport(store, q));
  assert.equal(store.daysStale(), false);
  fill(store, 8); // a writer in the new zone
  assert.equal(store.daysStale(), true);
  assert.equal(storeInfo(store).dayZone, "");
  const stale = norm(buildReport(store, q));
  store.rebuildDays();
  assert.equal(store.getMeta(DAY_ZONE_META), "America/New_York");
  assert.equal(store.daysCurrent(), true);
  assert.deepEqual(norm(buildReport(store, q)), stale);
  assert.notDeepEqual(stale, hoursOnly, "the second writer's usage is in");
  reportsAgree(store, "America/New_York");
});

test("a version-2 database with usage migrates with a stale day table; reports read hours until it is rebuilt", (t) => {
  const was = process.env.TZ;
  process.env.TZ = "UTC";
  t.after(() => (process.env.TZ = was));
  const dir = tempDir();
  t.after(dir.cleanup);
  const home = dir.path;
  const Driver = loadDriver();
  const old: Database = new Driver(historyPath(home));
  migrate(old, 2);
  old.exec("INSERT INTO sessions (id, provider, key) VALUES (7, 'codex', 's-1')");
  old.exec("INSERT INTO models (id, name) VALUES (3, 'gpt-5')");
  // 2026-11-20 10:00 and 2026-11-21 23:00 UTC
  old.exec(`INSERT INTO usage_hour (session, t, model, requests, input) VALUES (7, ${Date.parse("2026-11-20T10:00:00Z") / HOUR_MS}, 3, 3, 1200), (7, ${Date.parse("2026-11-21T23:00:00Z") / HOUR_MS}, 3, 2, 800)`);
  old.close();
  const store = HistoryStore.open(home, process.env);
  t.after(() => store.close());
  assert.equal(store.daysStale(), true);
  const q = { by: "day" as const, since: null, until: null, now: NOW };
  const before = buildReport(store, q);
  assert.deepEqual(before.rows.map((r) => [r.key, r.requests, r.tokens.input]), [["2026-11-20", 3, 1200], ["2026-11-21", 2, 800]]);
  store.rebuildDays();
  assert.deepEqual(store.db.prepare("SELECT session, day, model, requests, input FROM usage_day ORDER BY day").all(), [
    { session: 7, day: Date.parse("2026-11-20") / DAY_MS, model: 3, requests: 3, input: 1200 },
    { session: 7, day: Date.parse("2026-11-21") / DAY_MS, model: 3, requests: 2, input: 800 },
  ]);
  assert.deepEqual(norm(buildReport(store, q)), norm(before));
});
