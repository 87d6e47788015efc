import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../helpers/env.js";
import { transcriptSignals } from "../../src/fleet/signals.js";
import type { SessionMeta } from "../../src/fleet/transcripts/store.js";
import type { TranscriptEvent } from "../../src/fleet/transcripts/types.js";
import { parseConfig } from "../../src/slo/config.js";
import { alertRulesYaml } from "../../src/telemetry/alert-rules.js";
import { promtool } from "./promtool.js";

/**
 * The views' error rate is API errors / (successful requests + API errors). The counters the
 * alert rule reads are named so that the same ratio is errors / requests: the requests counter
 * counts every request, failed or not (`opensre_agent_requests_total` = successes + errors). One
 * error in four attempts is 25% in the view and in AgentErrorRateBurn, which fires at a 25%
 * threshold and not at 26% (errors / (requests + errors) over those counters would say 20%).
 */
test("AgentErrorRateBurn and the views compute the same error rate: 1 error in 4 requests is 25% in both", (t) => {
  const now = Date.now();
  const usage = { input: 10, output: 5, reasoning: 0, cacheWrite5m: 0, cacheWrite1h: 0, cacheRead: 0 };
  const events: TranscriptEvent[] = [
    ...[1, 2, 3].map((i): TranscriptEvent => ({ kind: "request", t: now - i * 1000, model: "claude-sonnet-4-5-20250929", dedupeKey: `k${i}`, usage, reportedUsd: null })),
    { kind: "api_error", t: now - 500, status: 529, message: "overloaded", dedupeKey: "k4" },
  ];
  const session: SessionMeta = { provider: "claude-code", path: "/x.jsonl", mtimeMs: now, size: 1, cwd: "/w", sessionId: "s", startedAt: now - 3000, lastEventAt: now - 500, model: null };
  const totals = { requests: 3, apiErrors: 1, toolFailures: 0, usage, usd: null, unpriced: false };
  const sig = transcriptSignals(session, events, totals, { now });
  assert.equal(sig.errorRatePct, 25, "the view: errors / (successful requests + errors)");
  assert.deepEqual({ requests: sig.totals?.requests, errors: sig.totals?.errors }, { requests: 4, errors: 1 }, "what the counters export: requests include errors");

  const tool = promtool();
  if (!tool) return t.skip("promtool not installed (apt-get install prometheus); CI installs it");
  const dir = tempDir();
  t.after(dir.cleanup);
  const labels = 'job="opensre-agents",instance="dev:9464",opensre_agent_name="claude-code",opensre_agent_provider="claude-code",process_pid="4242"';
  for (const [pct, fires] of [[25, true], [26, false]] as const) {
    writeFileSync(join(dir.path, `rules-${pct}.yml`), alertRulesYaml(parseConfig(`agents:\n  claude-code:\n    error_rate_pct: ${pct}\n    progress_minutes: 0\n`).config, { job: "opensre-agents" }));
    // the counters as /metrics serves them: each minute 4 more requests, 1 of them an error
    const tests = [
      `rule_files: [rules-${pct}.yml]`,
      "evaluation_interval: 1m",
      "tests:",
      "  - interval: 1m",
      "    input_series:",
      `      - series: 'opensre_agent_requests_total{${labels}}'`,
      "        values: '0+4x10'",
      `      - series: 'opensre_agent_errors_total{${labels}}'`,
      "        values: '0+1x10'",
      "    alert_rule_test:",
      "      - eval_time: 10m",
      "        alertname: AgentErrorRateBurn",
      fires
        ? [
            "        exp_alerts:",
            '          - exp_labels: { severity: warning, slo: errors, opensre_agent: claude-code, job: opensre-agents, instance: "dev:9464", opensre_agent_name: claude-code, opensre_agent_provider: claude-code, process_pid: "4242" }',
            "            exp_annotations:",
            '              summary: "claude-code (pid 4242) on dev:9464: API error rate 25% over 5m and 1h (threshold: 25.0%)"',
            '              description: "Both windows at or over the threshold, with at least 5 requests in the 1h (as the watchdog\'s errors SLO)."',
          ].join("\n")
        : "        exp_alerts: []",
      "",
    ].join("\n");
    writeFileSync(join(dir.path, `test-${pct}.yml`), tests);
    const r: { status: number | null; stdout: string; stderr: string } = spawnSync(tool, ["test", "rules", join(dir.path, `test-${pct}.yml`)], { encoding: "utf8" });
    assert.equal(r.status, 0, `threshold ${pct}%: ${r.stdout}${r.stderr}`);
  }
});
