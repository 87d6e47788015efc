import { test } from "node:test";
import assert from "node:assert/strict";
import type { FleetAgent, RequestSample, TranscriptSignals } from "../../src/fleet/model.js";
import { evaluateAgent, evaluateCost, evaluateErrors, evaluateProgress, fmtSpan } from "../../src/slo/evaluate.js";

const NOW = Date.parse("2026-11-25T12:00:00Z");

function transcript(over: Partial<TranscriptSignals> = {}): TranscriptSignals {
  return {
    provider: "claude-code", sessionId: "s", transcriptPath: "/t.jsonl", model: "m", unpriced: false,
    tokensPerMin: 0, usdPerHour: 0, spendLastHourUsd: 0, totalUsd: 0, requestsPerMin: 0, errorRatePct: null,
    toolFailures: 0, turnLatencyMs: null, contextPct: null, rateLimits: null, lastEventAt: null,
    waitingForInput: false, recent: [], ...over,
  };
}

function agent(over: Partial<FleetAgent> = {}): FleetAgent {
  return {
    name: "claude-code", pid: 42, provider: "claude-code", source: "discovered", confidence: 1, reason: "", command: "claude",
    cwd: "/w", startTime: NOW - 3_600_000, resource: { uptimeSec: 3600, cpuPct: 0, rssBytes: 1, children: 0 },
    transcript: null, lastOutputAt: null, stdoutPath: null, status: "idle", openIncidents: [], ...over,
  };
}

test("progress: quiet past the threshold breaches; waiting for the user or nothing observable never does", () => {
  const quiet = agent({ transcript: transcript(), lastOutputAt: NOW - 8 * 60_000 - 5000 });
  assert.deepEqual(evaluateProgress(quiet, 8, NOW), { slo: "progress", breached: true, detail: "8m no progress (threshold: 8m)" });
  assert.equal(evaluateProgress(agent({ transcript: transcript(), lastOutputAt: NOW - 60_000 }), 8, NOW)!.breached, false);
  assert.equal(evaluateProgress(agent({ transcript: transcript({ waitingForInput: true }), lastOutputAt: NOW - 3_600_000 }), 8, NOW)!.breached, false);
  assert.equal(evaluateProgress(agent(), 8, NOW), null, "stdout on a terminal and no transcript: silence says nothing");
  // stdout is a file that never grew: silent since the process started
  assert.equal(evaluateProgress(agent({ stdoutPath: "/log" }), 8, NOW)!.detail, "1h no progress (threshold: 8m)");
  assert.equal(evaluateProgress(quiet, 0, NOW), null, "0 switches it off");
  assert.equal(fmtSpan(4_000), "4s");
  assert.equal(fmtSpan(72 * 60_000), "1h12m");
});

test("cost: projected and last-hour spend must both reach the budget; unpriced is not evaluated", () => {
  const burst = agent({ transcript: transcript({ usdPerHour: 6.2, spendLastHourUsd: 1.1 }) });
  assert.deepEqual(evaluateCost(burst, 5), { slo: "cost", breached: false, detail: "$6.20/h projected, $1.10 spent in the last hour (budget: $5.00/h)" });
  const leak = agent({ transcript: transcript({ usdPerHour: 6.2, spendLastHourUsd: 5.1 }) });
  assert.deepEqual(evaluateCost(leak, 5), { slo: "cost", breached: true, detail: "$6.20/h projected, $5.10 spent in the last hour (budget: $5.00/h)" });
  assert.equal(evaluateCost(agent({ transcript: transcript({ usdPerHour: null, spendLastHourUsd: null, unpriced: true }) }), 5), null);
});

test("errors: multi-window burn rate; too few requests is not a rate", () => {
  const at = (minAgo: number, error: boolean): RequestSample => ({ t: NOW - minAgo * 60_000, tokens: 1, usd: 0, error, latencyMs: null });
  const spike = [...Array.from({ length: 50 }, (_, i) => at(59 - i, false)), at(1, true), at(0.5, true), at(0.2, false)];
  assert.equal(evaluateErrors(agent({ transcript: transcript({ recent: spike }) }), 10, NOW)!.breached, false);
  const leak = Array.from({ length: 60 }, (_, i) => at(59 - i, i % 3 === 0));
  const f = evaluateErrors(agent({ transcript: transcript({ recent: leak }) }), 10, NOW)!;
  assert.equal(f.breached, true);
  assert.match(f.detail, /^\d+\.\d% error rate \(threshold: 10\.0%\)$/);
  assert.equal(evaluateErrors(agent({ transcript: transcript({ recent: [at(1, true), at(2, true)] }) }), 10, NOW)!.breached, false);
  assert.deepEqual(evaluateAgent(agent({ transcript: transcript({ recent: leak }) }), { error_rate_pct: 10, model: "x" }, NOW).map((x) => x.slo), ["errors"]);
});
