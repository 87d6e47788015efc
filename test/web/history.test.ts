import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { isolatedEnv, tempDir, WAIT_MS } from "../helpers/env.js";
import { claudeProjectDir } from "../../src/fleet/transcripts/match.js";
import type { FleetAgent, FleetSnapshot } from "../../src/fleet/model.js";
import { closeRecorders } from "../../src/history/recorder.js";
import { loadDriver } from "../../src/history/sqlite.js";
import type { SloConfig } from "../../src/slo/config.js";
import { windowLabel } from "../../src/slo/objectives.js";
import { sloGauges } from "../../src/web/slo-gauges.js";
import { HISTORY_UPDATE_MS, MAX_CACHED_SERIES, NoHistory, openHistory, StoreHistory } from "../../src/web/history.js";
import { CliProcess } from "../helpers/cli.js";

/** Why these tests cannot run here: the store's optional driver does not load (in CI it must). */
function noDriver(): string | false {
  try {
    loadDriver();
    return false;
  } catch (err) {
    if (process.env.CI) throw err;
    return (err as Error).message.split("\n")[0]!;
  }
}
const skip = noDriver();

const SESSION = "aaaaaaaa-2222-4333-8444-555555555555";
const MIN = 60_000;
const HOUR = 60 * MIN;

/** A Claude Code session in `cwd` with these assistant responses (time, input, output tokens), and an API error. */
function claudeSession(env: NodeJS.ProcessEnv, cwd: string, responses: Array<[number, number, number]>, errorAt: number): string {
  const project = join(env.CLAUDE_CONFIG_DIR!, "projects", claudeProjectDir(cwd));
  mkdirSync(project, { recursive: true });
  const base = { cwd, sessionId: SESSION, version: "2.0.14" };
  const lines: unknown[] = [];
  responses.forEach(([t, input, output], i) => {
    lines.push({ ...base, type: "user", timestamp: new Date(t - 1000).toISOString(), message: { role: "user", content: "go" } });
    lines.push({ ...base, type: "assistant", timestamp: new Date(t).toISOString(), requestId: `req_${i}`, message: { id: `msg_${i}`, model: "claude-sonnet-4-5-20250929", role: "assistant", content: [{ type: "text", text: "ok" }], stop_reason: "end_turn", usage: { input_tokens: input, output_tokens: output } } });
  });
  lines.push({ ...base, type: "assistant", isApiErrorMessage: true, timestamp: new Date(errorAt).toISOString(), message: { id: "msg_err", model: "<synthetic>", role: "assistant", content: [{ type: "text", text: "API Error: 529 overloaded" }] } });
  const file = join(project, `${SESSION}.jsonl`);
  writeFileSync(file, lines.map((l) => JSON.stringify(l)).join("\n") + "\n");
  return file;
}

/** The live agent as the collector reports it (only what the recorder reads). */
function liveAgent(name: string, cwd: string, file: string, cpuPct: number, rssBytes: number): FleetAgent {
  return {
    name,
    pid: 4242,
    provider: "claude-code",
    cwd,
    startTime: 1,
    status: "active",
    openIncidents: [],
    resource: { cpuPct, rssBytes },
    transcript: { sessionId: SESSION, transcriptPath: file },
  } as unknown as FleetAgent;
}

test("day and week from the history store: every session of the agent, as rates per step, with the process samples", { skip }, async (t) => {
  const dir = tempDir();
  t.after(dir.cleanup);
  t.after(closeRecorders);
  const home = join(dir.path, "home");
  const env = isolatedEnv(home);
  const cwd = join(dir.path, "shop");
  mkdirSync(cwd);
  const now = Math.floor(Date.now() / (30 * MIN)) * 30 * MIN + 17 * MIN + 20_000; // mid-step and mid-minute, whatever the clock
  const a = now - 3 * HOUR;
  const b = now - 2 * HOUR;
  const file = claudeSession(env, cwd, [[a, 10_000, 5_000], [b, 1_000, 500]], b + 1000);

  const source = await openHistory(home, env);
  assert.ok(source instanceof StoreHistory, "the store opens");
  assert.deepEqual(source.info(), { available: true, message: null, updatedAt: null });
  const snap: FleetSnapshot = { takenAt: now, agents: [liveAgent("billing-bot", cwd, file, 12.5, 300 << 20)], warnings: [] };
  assert.deepEqual(await source.update(snap), []);
  await source.settled();
  const updatedAt = source.info().updatedAt;
  assert.ok(updatedAt !== null && updatedAt >= now - HOUR, "the store was brought up to date");
  // one update per HISTORY_UPDATE_MS: the next refresh does not start another
  assert.deepEqual(await source.update(snap), []);
  assert.equal(source.info().updatedAt, updatedAt);
  assert.equal(HISTORY_UPDATE_MS, 30_000);

  const day = source.series("billing-bot", "day", now);
  assert.equal(day.source, "store");
  assert.equal(day.agent, "billing-bot");
  assert.equal(day.stepMs, 5 * MIN);
  assert.equal(day.note, null);
  const at = (s: typeof day, ms: number) => s.t.indexOf(Math.floor(ms / s.stepMs) * (s.stepMs / 1000));
  const ia = at(day, a);
  const ib = at(day, b);
  assert.ok(ia >= 0 && ib > ia);
  assert.equal(day.t.length, day.tokensPerMin.length);
  assert.equal(day.tokensPerMin[ia], 15_000 / 5, "tokens of the step, per minute");
  assert.equal(day.tokensPerMin[ib], 1_500 / 5);
  assert.equal(day.tokensPerMin[ia + 1], 0, "a step without requests spent nothing");
  assert.equal(Math.max(...day.tokensPerMin.map((v) => v ?? 0)), 3_000);
  // claude-sonnet-4-5: $3 per million input tokens, $15 per million output; a step's spend × 12 steps an hour
  assert.ok(Math.abs(day.usdPerHour[ia]! - (10_000 * 3 + 5_000 * 15) / 1e6 * 12) < 1e-9, String(day.usdPerHour[ia]));
  assert.equal(day.errorPct[ia], 0);
  assert.equal(day.errorPct[ib], 50, "one response and one API error in that step");
  assert.equal(day.errorPct[ia + 1], null, "no requests: no error rate");
  // the process sample of this update, in the step of the snapshot
  const inow = at(day, now);
  assert.equal(inow, day.t.length - 1);
  assert.equal(day.cpuPct[inow], 12.5);
  assert.equal(day.memBytes[inow], 300 << 20);

  const week = source.series("billing-bot", "week", now);
  assert.equal(week.stepMs, 30 * MIN);
  assert.equal(week.tokensPerMin[at(week, a)], 15_000 / 30);
  assert.equal(week.tokensPerMin[at(week, b)], 1_500 / 30);

  // another agent has no history yet: zeros are not invented, the page says why
  const other = source.series("someone-else", "day", now);
  assert.equal(other.tokensPerMin.every((v) => v === null), true);
  assert.equal(other.note, "no history of someone-else in this day yet (the store is brought up to date every 30 s)");

  // the windowed objectives' gauges, from the same store: 2 good responses and 1 API error in the day
  const config = { agents: { "billing-bot": { success_objective_pct: 90, slo_window: "1d" } }, providers: {}, watchdog: {} } as unknown as SloConfig;
  const gauges = sloGauges(snap.agents, config, now, (agent, o, ms) => source.objectiveSli(agent, o, now, ms));
  assert.equal(gauges.length, 1);
  const g = gauges[0]!;
  assert.equal(g.slo, "success");
  assert.equal(g.agent, "billing-bot");
  assert.equal(g.target, `success ≥ 90% over ${g.window!.label}`);
  assert.equal(g.window!.label, windowLabel({ kind: "success", targetPct: 90, windowMs: 24 * HOUR }));
  // 1 bad of 3 where 10% may be bad: 0.3 bad events allowed, 1 spent
  assert.ok(Math.abs(g.window!.budgetLeftPct! - 100 * (1 - 1 / 0.3)) < 1e-9, String(g.window!.budgetLeftPct));
  assert.ok(Math.abs(g.usedPct! - 100 / 0.3) < 1e-9, String(g.usedPct));
  assert.ok(Math.abs(g.window!.burnRate! - 1 / 3 / 0.1) < 1e-9, String(g.window!.burnRate));
  assert.equal(g.burn, null, "nothing in the last hour");
  assert.equal(g.breached, false, "no burn-rate alert fires without events in the short windows");
  assert.match(g.detail, /^success ≥ 90% over \S+: burn rate - over 1h \(alerts at [\d.]+×\); -233% of the \S+ error budget left$/);
  // without the store, the threshold SLOs alone
  assert.deepEqual(sloGauges(snap.agents, config, now), []);

  // asked again before the store changes: the same series, no query; at most MAX_CACHED_SERIES kept
  assert.equal(source.series("billing-bot", "day", now), day);
  assert.notEqual(source.series("billing-bot", "day", now + 5 * MIN), day, "a new step is a new series");
  const again = source.series("billing-bot", "week", now);
  for (let i = 0; i < MAX_CACHED_SERIES; i++) source.series(`agent-${i}`, "week", now);
  assert.notEqual(source.series("billing-bot", "week", now), again, "the oldest entry went first");
  source.close();
});

test("without the store's driver the dashboard serves, and its state says why day and week show the live hour", async (t) => {
  const dir = tempDir();
  t.after(dir.cleanup);
  const env = { ...isolatedEnv(join(dir.path, "home")), OPENSRE_BETTER_SQLITE3: join(dir.path, "no-such-driver") };
  const web = new CliProcess(["agents", "web", "--port", "0"], { env });
  t.after(() => web.kill("SIGKILL"));
  await web.waitFor((o) => /q or Ctrl\+C to stop\n/.test(o), WAIT_MS, "the URL");
  assert.equal(web.stderr, "");
  const url = new URL(/dashboard on (\S+)/.exec(web.stdout)![1]!);
  const state = (await (await fetch(new URL(`/api/state${url.search}`, url))).json()) as { history: { available: boolean; message: string; updatedAt: null } };
  assert.equal(state.history.available, false);
  assert.equal(state.history.updatedAt, null);
  assert.match(state.history.message, /^history needs the optional package better-sqlite3 \(SQLite\), which is not available: \S*no-such-driver is not installed\n/);
  web.child.kill("SIGINT");
  assert.equal((await web.exited).code, 0);
});

test("a history database that cannot be used is the page's note, not a failure", { skip }, async (t) => {
  const dir = tempDir();
  t.after(dir.cleanup);
  const home = join(dir.path, "home");
  mkdirSync(home, { recursive: true });
  writeFileSync(join(home, "history.db"), "this is not a database, only text long enough to be read as a header. ".repeat(20));
  const bad = await openHistory(home, isolatedEnv(home));
  assert.ok(bad instanceof NoHistory);
  assert.equal(bad.info().available, false);
  assert.match(bad.info().message!, /history\.db/);
});
