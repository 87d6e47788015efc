import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { tempDir, isolatedEnv } from "../helpers/env.js";
import { runCli } from "../helpers/cli.js";
import { BURN_ALERT_PAIRS, budgetStatus, burnThreshold, firingBurnAlerts, objectivesOf, type Objective, type Sli } from "../../src/slo/objectives.js";
import { evaluateObjectives } from "../../src/slo/burn.js";
import { parseConfig } from "../../src/slo/config.js";
import { HistoryStore, newCounters, COUNTER_INDEX as C, HOUR_MS, MINUTE_MS } from "../../src/history/store.js";
import { objectiveSli } from "../../src/history/objectives.js";
import { Watchdog, type HistoryHook } from "../../src/slo/watchdog.js";
import { readIncidents } from "../../src/slo/incidents.js";
import type { FleetCollector } from "../../src/fleet/collector.js";
import type { FleetSnapshot } from "../../src/fleet/model.js";
import { writeFileSync } from "node:fs";

const DAY = 24 * HOUR_MS;
const W28 = 28 * DAY;
const NOW = Date.parse("2026-11-25T12:00:00Z");
const success = (targetPct: number, windowMs = W28): Objective => ({ kind: "success", targetPct, windowMs });

test("error budget arithmetic: attainment, budget left, burn rates; thresholds follow the window", () => {
  const o = success(99);
  const s = budgetStatus(o, { good: 9_950, total: 10_000 }, { good: 90, total: 100 });
  assert.equal(s.attainmentPct, 99.5);
  assert.equal(s.budgetEvents, 100.00000000000009); // 1 % of 10,000, in floating point
  assert.equal(s.badEvents, 50);
  assert.ok(Math.abs(s.budgetRemainingPct! - 50) < 1e-9);
  assert.ok(Math.abs(s.burnRate1h! - 10) < 1e-9, "10 % bad in the hour is 10× the 1 % allowed");
  assert.ok(Math.abs(s.burnRateWindow! - 0.5) < 1e-9);
  const over = budgetStatus(o, { good: 9_700, total: 10_000 }, { good: 0, total: 0 });
  assert.ok(Math.abs(over.budgetRemainingPct! + 200) < 1e-9, "three budgets spent: -200 % left");
  assert.equal(over.burnRate1h, null);
  assert.equal(budgetStatus(o, { good: 0, total: 0 }, { good: 0, total: 0 }).budgetRemainingPct, null);
  // the workbook's 14.4 and 6 for 30 days; 13.44 and 5.6 for the default 28
  assert.deepEqual(BURN_ALERT_PAIRS.map((p) => +burnThreshold(p, 30 * DAY).toFixed(6)), [14.4, 6]);
  assert.deepEqual(BURN_ALERT_PAIRS.map((p) => +burnThreshold(p, W28).toFixed(6)), [13.44, 5.6]);
});

test("multiwindow alerts fire only when both windows of a pair burn over the threshold", () => {
  const o = success(99);
  const counts = (m: Record<number, Sli>) => (ms: number) => m[ms] ?? { good: 0, total: 0 };
  const H = HOUR_MS;
  const M = MINUTE_MS;
  // 20 % errors over the last hour and the last 5 min: 20× > 13.44
  assert.deepEqual(firingBurnAlerts(o, counts({ [H]: { good: 80, total: 100 }, [5 * M]: { good: 8, total: 10 } })).map((a) => a.pair.name), ["fast"]);
  // the spike is over: the last 5 minutes are clean
  assert.deepEqual(firingBurnAlerts(o, counts({ [H]: { good: 80, total: 100 }, [5 * M]: { good: 10, total: 10 } })), []);
  // a slow leak: 7 % over 6 h and 30 min (7× ≥ 5.6), under the fast threshold
  const leak = firingBurnAlerts(o, counts({ [H]: { good: 93, total: 100 }, [5 * M]: { good: 93, total: 100 }, [6 * H]: { good: 930, total: 1000 }, [30 * M]: { good: 93, total: 100 } }));
  assert.deepEqual(leak.map((a) => [a.pair.name, +a.longBurn.toFixed(3)]), [["slow", 7]]);
  // one failure out of one request is not a rate
  assert.deepEqual(firingBurnAlerts(o, counts({ [H]: { good: 0, total: 1 }, [5 * M]: { good: 0, total: 1 } })), []);
});

test("objectives from agents.yaml: window syntax and validation", () => {
  const { config } = parseConfig("agents:\n  a:\n    hourly_budget_usd: 5\n    success_objective_pct: 99.5\n    spend_objective_pct: 95\n    slo_window: 7d\n  b:\n    success_objective_pct: 99\n    spend_objective_pct: 90\n");
  assert.deepEqual(objectivesOf(config.agents.a!), [
    { kind: "success", targetPct: 99.5, windowMs: 7 * DAY },
    { kind: "spend", targetPct: 95, windowMs: 7 * DAY, hourlyBudgetUsd: 5 },
  ]);
  assert.deepEqual(objectivesOf(config.agents.b!), [{ kind: "success", targetPct: 99, windowMs: W28 }], "spend needs an hourly budget; the window defaults to 28d");
  assert.throws(() => parseConfig("agents:\n  a:\n    slo_window: 2y\n"), { message: 'agents.yaml: line 3: slo_window must be a duration such as 28d, 7d or 12h, not "2y" in agents.a' });
  assert.throws(() => parseConfig("agents:\n  a:\n    slo_window: 500d\n"), { message: "agents.yaml: line 3: slo_window must be between 1h and 400d in agents.a" });
  assert.throws(() => parseConfig("agents:\n  a:\n    success_objective_pct: 100\n"), { message: "agents.yaml: line 3: success_objective_pct must be between 0 and 100 (exclusive) in agents.a" });
});

/** A store with one agent's usage at known minutes before NOW. */
function storeWith(t: { after: (f: () => void) => void }, rows: Array<{ minutesAgo: number; requests: number; errors: number; usd: number }>) {
  const dir = tempDir();
  t.after(dir.cleanup);
  const store = HistoryStore.open(dir.path, process.env);
  t.after(() => store.close());
  store.write(() => {
    const s = store.sessionId({ provider: "claude-code", key: "s1", sessionId: "s1", parentSessionId: null, cwd: null });
    store.nameSession(s, "auth-fixer");
    const other = store.sessionId({ provider: "claude-code", key: "s2", sessionId: "s2", parentSessionId: null, cwd: null });
    store.nameSession(other, "someone-else");
    for (const r of rows) {
      const c = newCounters();
      c[C.requests] = r.requests;
      c[C.errors] = r.errors;
      c[C.usd] = r.usd;
      store.addUsage(s, Math.floor((NOW - r.minutesAgo * MINUTE_MS) / MINUTE_MS), 0, c);
      store.addUsage(other, Math.floor((NOW - r.minutesAgo * MINUTE_MS) / MINUTE_MS), 0, c); // never counted for auth-fixer
    }
  });
  return store;
}

test("objective counts from the store on a fake clock: request windows, spend hours, short windows as a rate", (t) => {
  const store = storeWith(t, [
    { minutesAgo: 2, requests: 9, errors: 1, usd: 0.5 }, // this hour: $0.50 in 2 minutes
    { minutesAgo: 40, requests: 10, errors: 0, usd: 1 },
    { minutesAgo: 3 * 60, requests: 20, errors: 5, usd: 7 }, // an hour over a $5 budget
    { minutesAgo: 20 * 24 * 60, requests: 100, errors: 0, usd: 2 }, // 20 days ago
  ]);
  const scope = { agent: "auth-fixer" };
  const o = success(99);
  assert.deepEqual(objectiveSli(store, scope, o, NOW, 5 * MINUTE_MS), { good: 9, total: 10 });
  assert.deepEqual(objectiveSli(store, scope, o, NOW, HOUR_MS), { good: 19, total: 20 });
  assert.deepEqual(objectiveSli(store, scope, o, NOW, 6 * HOUR_MS), { good: 39, total: 45 });
  assert.deepEqual(objectiveSli(store, scope, o, NOW, W28), { good: 139, total: 145 }, "hour rows beyond the minutes kept");
  const spend: Objective = { kind: "spend", targetPct: 95, windowMs: W28, hourlyBudgetUsd: 5 };
  // NOW is on the hour: the 2- and 40-minute-old rows are one clock hour ($1.50), 3 h ago is over $5, 20 days ago under
  assert.deepEqual(objectiveSli(store, scope, spend, NOW, W28), { good: 2, total: 3 });
  assert.deepEqual(objectiveSli(store, scope, spend, NOW, 6 * HOUR_MS), { good: 1, total: 2 });
  // $0.50 in the last 5 minutes is $6/h: over a $5 budget
  assert.deepEqual(objectiveSli(store, scope, spend, NOW, 5 * MINUTE_MS), { good: 0, total: 1 });
  assert.deepEqual(objectiveSli(store, scope, { ...spend, hourlyBudgetUsd: 7 }, NOW, 5 * MINUTE_MS), { good: 1, total: 1 });
  assert.deepEqual(objectiveSli(store, { agent: "nobody" }, o, NOW, W28), { good: 0, total: 0 });
  assert.deepEqual(objectiveSli(store, { provider: "claude-code" }, o, NOW, HOUR_MS), { good: 38, total: 40 }, "a provider scope counts every session");
});

test("the watchdog opens a burn-rate incident from the store's counts and resolves it when the burn stops (fake clock)", async (t) => {
  const dir = tempDir();
  t.after(dir.cleanup);
  const home = dir.path;
  writeFileSync(join(home, "agents.yaml"), "agents:\n  auth-fixer:\n    success_objective_pct: 99\n");
  let errorsNow = 4;
  const sli = (_agent: string, o: Objective, _now: number, ms: number): Sli => {
    if (ms === o.windowMs) return { good: 5000, total: 5010 };
    if (ms <= HOUR_MS) return { good: 20, total: 20 + errorsNow }; // 4 of 24 failed, in the last hour and the last 5 min: 16.7× the 1 % allowed
    return { good: 200, total: 200 };
  };
  const hook: HistoryHook = { update: async () => ({ warnings: [] }), objectiveSli: sli };
  const snap: FleetSnapshot = {
    takenAt: NOW,
    warnings: [],
    agents: [{ name: "auth-fixer", pid: process.pid, provider: "claude-code", source: "registered", confidence: 1, reason: "", command: "", cwd: null, startTime: null, resource: { uptimeSec: 1, cpuPct: 0, rssBytes: 0, children: 0 }, transcript: null, lastOutputAt: null, stdoutPath: null, status: "active", openIncidents: [] }],
  };
  const collector = { refresh: async () => snap, telemetry: null } as unknown as FleetCollector;
  const events: string[] = [];
  const dog = new Watchdog({ home, env: isolatedEnv(home), collector, now: () => NOW, publishOnBus: false, history: async () => hook, onEvent: (e) => events.push(`${e.kind} ${e.incident.slo}`), cooldownMs: 0 });
  await dog.tick();
  assert.deepEqual(events, ["open success"]);
  const open = readIncidents(home).incidents[0]!;
  assert.equal(open.detail, "success ≥ 99% over 28d: burning the error budget 16.7× over 1h and 16.7× over 5m (threshold 13.44×); 80% of the 28d error budget left");
  assert.equal(open.slo, "success");
  errorsNow = 0;
  await dog.tick();
  assert.deepEqual(events, ["open success", "resolve success"]);
});

test("budget sets objectives and the window; bad values are refused with their message", async (t) => {
  const dir = tempDir();
  t.after(dir.cleanup);
  const env = isolatedEnv(join(dir.path, "home"));
  const set = await runCli(["agents", "budget", "auth-fixer", "2", "--success", "99.5", "--spend", "90", "--window", "7d"], { env });
  assert.equal(set.stdout, "updated auth-fixer: $2.00/hr, success objective 99.5%, spend objective 90% of hours, window 7d -> " + join(dir.path, "home", "agents.yaml") + "\n");
  const cases: Array<[string[], string]> = [
    [["a", "--success", "100"], "invalid --success: must be a percentage between 0 and 100 (exclusive), such as 99.5\n"],
    [["a", "--spend", "x"], "invalid --spend: x is not a number\n"],
    [["a", "--window", "2y"], 'invalid --window: must be a duration such as 28d, 7d or 12h, not "2y"\n'],
    [["a", "--window", "30m"], "invalid --window: must be between 1h and 400d\n"],
  ];
  for (const [args, err] of cases) {
    const r = await runCli(["agents", "budget", ...args], { env });
    assert.equal(r.stderr, err, args.join(" "));
    assert.equal(r.code, 2);
  }
  const list = await runCli(["agents", "budget"], { env });
  assert.equal(list.code, 0, list.stderr);
  assert.equal(
    list.stdout,
    "agent       hourly $  progress min  error %\nauth-fixer  $2.00     -             -\n\n" +
      "agent       objective                        window  attained  budget left  burn 1h  burn window\n" +
      "auth-fixer  success ≥ 99.5%                  7d      -         -            -        -\n" +
      "auth-fixer  spend ≤ $2.00/h in 90% of hours  7d      -         -            -        -\n",
  );
  void evaluateObjectives;
});
