import { test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { isolatedEnv, tempDir } from "../helpers/env.js";
import { copyFixtures } from "../helpers/history.js";
import { runCli } from "../helpers/cli.js";
import { HistoryStore } from "../../src/history/store.js";
import { HistoryIngest } from "../../src/history/ingest.js";
import { clockAt } from "../helpers/clock.js";
import { HistoryRecorder } from "../../src/history/recorder.js";
import { syncIncidents } from "../../src/history/incidents.js";
import { buildReport, histogramPercentile, weekKey } from "../../src/history/report.js";
import { LATENCY_BUCKETS, latencyBound, latencyBucket } from "../../src/history/schema.js";
import { renderReport, reportCsv } from "../../src/commands/report.js";
import type { FleetSnapshot } from "../../src/fleet/model.js";

const T = (iso: string) => Date.parse(iso);
const NOW = T("2026-11-25T12:00:00Z");

function incident(id: string, agent: string, opened: string, acked: string | null, resolved: string | null) {
  return JSON.stringify({
    event: "open",
    incident: { id, agent, pid: 4242, start_time: null, provider: "claude-code", slo: "cost", detail: "over budget", opened_at: opened, acked_at: null, resolved_at: null, resolution: null, kills: [], evidence: { source: null, output: "", resources: {}, signals: {} } },
  }) + "\n" + (acked ? JSON.stringify({ event: "ack", id, at: acked }) + "\n" : "") + (resolved ? JSON.stringify({ event: "resolve", id, at: resolved, resolution: "recovered" }) + "\n" : "");
}

/** The fixture transcripts, the Claude session seen live as `auth-fixer`, and two of its incidents. */
async function fixedStore(t: { after: (f: () => void) => void }) {
  process.env.TZ = "UTC";
  const dir = tempDir();
  t.after(dir.cleanup);
  const fx = copyFixtures(dir.path);
  const home = join(dir.path, "home");
  const store = HistoryStore.open(home, process.env);
  t.after(() => store.close());
  // the store's clock is the reports' (minutes past retention at ingest are not written)
  const ingest = new HistoryIngest(store, { env: fx.env, now: () => NOW });
  ingest.addAiderRoot(fx.aiderRoot);
  await ingest.refresh();
  const snap = {
    takenAt: T("2026-11-20T10:00:30Z"),
    warnings: [],
    agents: [
      {
        name: "auth-fixer",
        pid: 4242,
        provider: "claude-code",
        cwd: "/home/dev/shop",
        startTime: T("2026-11-20T09:59:00Z"),
        resource: { uptimeSec: 90, cpuPct: 12.5, rssBytes: 300 << 20, children: 1 },
        transcript: { sessionId: "7b1e5a3c-2f4d-4c7e-9a61-0d3f8e2b9c10", transcriptPath: null },
        status: "active",
        openIncidents: [],
      },
    ],
  } as unknown as FleetSnapshot;
  new HistoryRecorder(store, home, fx.env, () => NOW).sample(snap);
  writeFileSync(
    join(home, "incidents.jsonl"),
    incident("aaaa1111", "auth-fixer", "2026-11-20T10:00:40.000Z", "2026-11-20T10:04:40.000Z", "2026-11-20T10:30:40.000Z") +
      incident("bbbb2222", "auth-fixer", "2026-11-20T11:00:00.000Z", null, "2026-11-20T12:00:00.000Z") +
      incident("cccc3333", "auth-fixer", "2026-11-22T11:00:00.000Z", null, null),
  );
  syncIncidents(store, home);
  return { store, home, fx };
}

test("report figures for a fixed store, by agent, provider, model and day", async (t) => {
  const { store } = await fixedStore(t);
  const q = { since: T("2026-11-20T00:00:00Z"), until: T("2026-11-21T00:00:00Z"), now: NOW };
  const byAgent = buildReport(store, { ...q, by: "agent" });
  assert.equal(byAgent.resolution, "minute");
  assert.deepEqual(
    byAgent.rows.map((r) => [r.key, r.sessions, r.requests, r.errors, r.errorPct, r.tokens.total, Math.round(r.usd * 1e6), r.turns, r.incidents]),
    [
      ["auth-fixer", 1, 3, 1, 25, 68_293, 43_413, 1, { count: 2, mttaMs: 240_000, mttrMs: (1_800_000 + 3_600_000) / 2 }],
      ["codex session 0199a1b2", 1, 2, 0, 0, 33_912, 18_967, 0, { count: 0, mttaMs: null, mttrMs: null }],
      ["aider session repo", 1, 2, 0, 0, 10_263, 14_900, 0, { count: 0, mttaMs: null, mttrMs: null }],
      ["gemini session 4e7a9d2c", 1, 2, 0, 0, 19_497, 13_159, 0, { count: 0, mttaMs: null, mttrMs: null }],
    ],
  );
  const total = byAgent.total;
  assert.deepEqual([total.sessions, total.requests, total.errors, total.errorPct, total.tokens.total, Math.round(total.usd * 1e6)], [4, 9, 1, 10, 131_965, 90_439]);
  assert.deepEqual(total.incidents, { count: 2, mttaMs: 240_000, mttrMs: 2_700_000 });
  // one turn of 31.7 s: the histogram's estimate is bounded by the shortest and longest turn
  assert.equal(total.latencyP50Ms, 31_700);
  assert.equal(total.latencyP95Ms, 31_700);

  const byProvider = buildReport(store, { ...q, by: "provider" });
  assert.deepEqual(byProvider.rows.map((r) => [r.key, r.requests, r.tokens.input, r.tokens.output, r.tokens.cacheRead]), [
    ["claude-code", 3, 26, 447, 63_100],
    ["codex", 2, 5_964, 812, 27_136],
    ["aider", 2, 5_900, 363, 2_900],
    ["gemini", 2, 3_588, 677, 15_232],
  ]);
  assert.equal(byProvider.rows[0]!.incidents!.count, 2);

  const byModel = buildReport(store, { ...q, by: "model" });
  assert.deepEqual(byModel.rows.map((r) => [r.key, r.requests, r.errors]), [
    ["claude-sonnet-4-5-20250929", 3, 1],
    ["gpt-5-codex", 2, 0],
    ["anthropic/claude-sonnet-4-5-20250929", 2, 0],
    ["gemini-2.5-pro", 2, 0],
  ]);
  assert.equal(byModel.rows[0]!.incidents, null, "incidents are not attributed to models");

  const byDay = buildReport(store, { since: null, until: null, now: NOW, by: "day" });
  assert.equal(byDay.resolution, "hour");
  assert.deepEqual(byDay.rows.map((r) => [r.key, r.requests, r.incidents?.count]), [["2026-11-20", 9, 2], ["2026-11-22", 0, 1]]);
});

test("report as text, CSV and JSON through the CLI", async (t) => {
  const { home, fx } = await fixedStore(t);
  // the CLI's clock is the fixed store's: its SLO window (28 days to now) holds the fixtures' day whenever the suite runs
  const env = isolatedEnv(home, { ...(fx.env as Record<string, string>), TZ: "UTC", ...clockAt(NOW) });
  writeFileSync(join(home, "agents.yaml"), "providers:\n  claude-code:\n    success_objective_pct: 99\n");
  const csv = await runCli(["agents", "report", "--by", "provider", "--since", "2026-11-20", "--until", "2026-11-20", "--csv"], { env });
  assert.equal(csv.code, 0, csv.stderr);
  assert.equal(
    csv.stdout,
    "group,sessions,requests,errors,error_pct,input_tokens,output_tokens,reasoning_tokens,cache_write_5m_tokens,cache_write_1h_tokens,cache_read_tokens,total_tokens,cost_usd,unpriced_requests,turns,latency_p50_ms,latency_p95_ms,incidents,mtta_ms,mttr_ms,objectives,objectives_met,budget_left_pct\n" +
      "claude-code,1,3,1,25,26,447,0,4720,0,63100,68293,0.043413,0,1,31700,31700,2,240000,2700000,success ≥ 99% over 28d,0,-2400\n" +
      "codex,1,2,0,0,5964,812,256,0,0,27136,33912,0.018967,0,0,,,0,,,,,\n" +
      "aider,1,2,0,0,5900,363,0,1100,0,2900,10263,0.0149,0,0,,,0,,,,,\n" +
      "gemini,1,2,0,0,3588,677,230,0,0,15232,19497,0.013159,0,0,,,0,,,,,\n" +
      "total,4,9,1,10,15478,2299,486,5820,0,108368,131965,0.090439,0,1,31700,31700,2,240000,2700000,,,\n",
  );
  const json = await runCli(["agents", "report", "--by", "agent", "--since", "2026-11-20", "--until", "2026-11-20", "--json"], { env });
  const rep = JSON.parse(json.stdout) as { by: string; rows: Array<{ key: string; requests: number; objectives?: unknown }>; total: { requests: number } };
  const objectives = rep.rows[0]!.objectives as Array<{ budgetRemainingPct: number }>;
  assert.equal(Math.round(objectives[0]!.budgetRemainingPct), -2400);
  assert.deepEqual(objectives, [{ kind: "success", objective: "success ≥ 99%", targetPct: 99, window: "28d", attainmentPct: 75, met: false, budgetRemainingPct: objectives[0]!.budgetRemainingPct }]);
  assert.equal(rep.by, "agent");
  assert.deepEqual(rep.rows.map((r) => r.key), ["auth-fixer", "codex session 0199a1b2", "aider session repo", "gemini session 4e7a9d2c"]);
  assert.equal(rep.total.requests, 9);
  const text = await runCli(["agents", "report", "--by", "agent", "--since", "2026-11-20", "--until", "2026-11-20"], { env });
  const lines = text.stdout.split("\n");
  assert.match(lines[0]!, /^agent +requests +err% +input +output +cache write +cache read +tokens +cost +p50 +p95 +incidents +MTTA +MTTR +slo +budget left$/);
  assert.match(lines[1]!, /^auth-fixer +3 +25\.0 +26 +447 +4,720 +63,100 +68,293 +\$0\.0434 +31\.7s +31\.7s +2 +4m00s +45m00s +0\/1 met +-2400%$/);
  assert.match(lines[2]!, /^codex session 0199a1b2 .* 0 +- +- +- +-$/, "objectives only for agents that have them");
  assert.match(lines[5]!, /^total +9 +10\.0 +15,478 +2,299 +5,820 +108,368 +131,965 +\$0\.0904/);
  assert.match(lines[6]!, /^from 2026-11-20 00:00 to 2026-11-21 00:00 \(local time\), read at (minute|hour) resolution; latency is per turn$/);
});

test("report input errors", async (t) => {
  const dir = tempDir();
  t.after(dir.cleanup);
  const env = isolatedEnv(dir.path);
  const cases: Array<[string[], string]> = [
    [["--by", "team"], "invalid --by: team (one of agent, provider, project, model, session, day, week, month)\n"],
    [["--since", "yesterday"], "invalid --since: yesterday (a date such as 2026-11-20, a time such as 2026-11-20T10:00, or a duration ago such as 7d)\n"],
    [["--until", "2026-02-30"], "invalid --until: 2026-02-30 (a date such as 2026-11-20, a time such as 2026-11-20T10:00, or a duration ago such as 7d)\n"],
    [["--since", "2026-11-20", "--until", "2026-11-19"], "invalid range: --since must be before --until\n"],
    [["--json", "--csv"], "--json and --csv cannot be used together\nusage: /agents report [--by agent|provider|project|model|session|day|week|month] [--since WHEN] [--until WHEN] [--json|--csv] | --store\n"],
  ];
  for (const [args, err] of cases) {
    const r = await runCli(["agents", "report", ...args], { env });
    assert.equal(r.stderr, err, args.join(" "));
    assert.equal(r.code, 2);
  }
});

test("an empty store reports so; --store shows the size and contents", async (t) => {
  const dir = tempDir();
  t.after(dir.cleanup);
  const env = isolatedEnv(join(dir.path, "home"), { TZ: "UTC" });
  const r = await runCli(["agents", "report", "--since", "2026-11-01", "--until", "2026-11-02"], { env });
  assert.equal(r.stdout, "no usage recorded from 2026-11-01 00:00 to 2026-11-03 00:00\n");
  const s = await runCli(["agents", "report", "--store"], { env });
  assert.equal(s.code, 0);
  assert.match(s.stdout, /^history store .*history\.db\nsize +\d+ KB \(database, write-ahead log and index\)\nschema +version 4\ntranscripts +0 files, 0 sessions\nusage +0 minute rows, 0 hour rows, 0 day rows, 0 response keys\nincidents +0\nkept +minutes 14 days, hours 400 days\nspan +empty\n$/);
});

test("calendar keys and latency percentiles", () => {
  process.env.TZ = "UTC";
  assert.equal(weekKey(T("2026-11-20T10:00:00Z")), "2026-W47");
  assert.equal(weekKey(T("2027-01-01T10:00:00Z")), "2026-W53");
  assert.equal(weekKey(T("2026-01-01T10:00:00Z")), "2026-W01");
  const hist = new Array(LATENCY_BUCKETS).fill(0);
  hist[latencyBucket(10_000)] = 90;
  hist[latencyBucket(100_000)] = 10;
  assert.ok(histogramPercentile(hist, 50)! <= latencyBound(latencyBucket(10_000)));
  assert.ok(histogramPercentile(hist, 95)! > latencyBound(latencyBucket(100_000) - 1));
  assert.equal(histogramPercentile(new Array(LATENCY_BUCKETS).fill(0), 50), null);
  assert.equal(histogramPercentile(hist, 95, 5_000, 60_000), 60_000, "bounded by the longest turn");
  assert.equal(latencyBucket(500), 0);
  assert.equal(latencyBucket(10 * 3_600_000), LATENCY_BUCKETS - 1);
});


void renderReport;
void reportCsv;

test("series for charts: one metric per agent over a range, downsampled to at most maxPoints", async (t) => {
  const { store } = await fixedStore(t);
  const { querySeries } = await import("../../src/history/series.js");
  const from = T("2026-11-20T10:00:00Z");
  const r = querySeries(store, { metric: "tokens", from, to: T("2026-11-20T11:00:00Z"), maxPoints: 6, now: NOW });
  assert.equal(r.resolution, "minute");
  assert.equal(r.stepMs, 10 * 60_000);
  const auth = r.series.find((s) => s.key === "auth-fixer")!;
  assert.equal(auth.points.length, 6);
  assert.deepEqual(auth.points.map((p) => p.t), [0, 1, 2, 3, 4, 5].map((i) => from + i * 600_000));
  assert.equal(auth.points.reduce((n, p) => n + (p.value ?? 0), 0), 68_293);
  assert.deepEqual(r.series.map((s) => s.key), ["aider session repo", "auth-fixer", "codex session 0199a1b2", "gemini session 4e7a9d2c"]);
  const only = querySeries(store, { metric: "cpu_pct", from, to: T("2026-11-20T11:00:00Z"), maxPoints: 6, now: NOW, agent: "auth-fixer" });
  assert.deepEqual(only.series.map((s) => [s.key, s.points[0]!.value]), [["auth-fixer", 12.5]]);
  const year = querySeries(store, { metric: "requests", from: T("2025-11-25T00:00:00Z"), to: NOW, provider: "codex", now: NOW });
  assert.equal(year.resolution, "hour");
  assert.ok(year.series[0]!.points.length <= 500);
  assert.equal(year.series[0]!.points.reduce((n, p) => n + (p.value ?? 0), 0), 2);
});
