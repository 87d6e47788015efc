import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, utimesSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../helpers/env.js";
import type { TelemetryEvent } from "../../src/telemetry/events.js";
import { MAX_SPOOL_FILES, spoolFile, TelemetrySpool, telemetryDir } from "../../src/telemetry/spool.js";
import { TelemetryStore } from "../../src/telemetry/store.js";

const ev = (sessionId: string, t = Date.now()): TelemetryEvent => ({ provider: "claude-code", sessionId, pid: null, t, kind: "request", model: "claude-sonnet-4-5-20250929", latencyMs: 900, usage: { input: 100, output: 50, reasoning: 0, cacheWrite5m: 0, cacheWrite1h: 0, cacheRead: 0 }, usd: 0.25, status: null, ok: true, tool: null });

test(`a flood of distinct session ids keeps at most ${MAX_SPOOL_FILES} spool files, the most recently written`, (t) => {
  const dir = tempDir();
  t.after(dir.cleanup);
  let now = Date.now();
  const spool = new TelemetrySpool(dir.path, () => now);
  for (let i = 0; i < MAX_SPOOL_FILES + 100; i++) {
    now += 1;
    spool.append([ev(`flood-${i}`, now)]);
    utimesSync(spoolFile(dir.path, ev(`flood-${i}`)), now / 1000, now / 1000);
  }
  const files = readdirSync(join(telemetryDir(dir.path), "claude-code"));
  assert.equal(files.length, MAX_SPOOL_FILES);
  assert.equal(spool.stats().files, MAX_SPOOL_FILES);
  assert.equal(spool.stats().evicted.files, 100);
  assert.ok(!existsSync(spoolFile(dir.path, ev("flood-0"))), "the oldest went first");
  assert.ok(existsSync(spoolFile(dir.path, ev(`flood-${MAX_SPOOL_FILES + 99}`))));
  // a restarted receiver finds the same bound from disk
  assert.equal(new TelemetrySpool(dir.path, () => now).stats().files, MAX_SPOOL_FILES);
});

test("the spool is bounded in bytes and in age", (t) => {
  const dir = tempDir();
  t.after(dir.cleanup);
  let now = Date.now();
  const spool = new TelemetrySpool(dir.path, () => now, { files: 1000, bytes: 20_000, ageMs: 60_000 });
  for (let i = 0; i < 200; i++) spool.append([ev(`s-${i % 40}`, now), ev(`s-${i % 40}`, now)]);
  assert.ok(spool.stats().bytes <= 20_000, `${spool.stats().bytes} bytes`);
  assert.ok(spool.stats().evicted.bytes > 0);
  const size = readdirSync(join(telemetryDir(dir.path), "claude-code")).length;
  assert.equal(spool.stats().files, size);
  now += 120_000;
  spool.prune();
  assert.equal(spool.stats().files, 0);
  assert.equal(readdirSync(join(telemetryDir(dir.path), "claude-code")).length, 0);
});

test("the store counts a session's cumulative figures (the agent's own cost when it states one) and forgets evicted files", async (t) => {
  const dir = tempDir();
  t.after(dir.cleanup);
  const spool = new TelemetrySpool(dir.path);
  spool.append([ev("a"), ev("a"), { ...ev("a"), kind: "api_error", usage: null, usd: null, latencyMs: null, ok: false }]);
  const store = new TelemetryStore(dir.path);
  await store.refresh();
  const totals = store.totalsFor("a", null)!;
  assert.deepEqual([totals.requests, totals.apiErrors, totals.usage.input, totals.usage.output, totals.usd], [2, 1, 200, 100, 0.5]);
  assert.equal(store.eventsFor("a", null).length, 3);
  const small = new TelemetrySpool(dir.path, Date.now, { files: 1, bytes: 1e9, ageMs: 1e12 });
  small.append([ev("b")]);
  await store.refresh();
  assert.equal(store.eventsFor("a", null).length, 0);
  assert.equal(store.totalsFor("a", null), undefined);
});
