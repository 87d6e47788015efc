import { test } from "node:test";
import assert from "node:assert/strict";
import { toEvent, providerOf, type TelemetryEvent } from "../../src/telemetry/events.js";
import { asTranscriptEvents, mergeTelemetry } from "../../src/telemetry/signals.js";
import { FleetMetrics } from "../../src/telemetry/fleet-metrics.js";
import { renderPrometheus } from "../../src/telemetry/prometheus.js";
import type { FleetAgent } from "../../src/fleet/model.js";

const T = Date.now();

test("event names say whose an event is, whatever the service.name", () => {
  assert.equal(providerOf("claude_code.api_request", "my-wrapper"), "claude-code");
  assert.equal(providerOf("gemini_cli.api_response", ""), "gemini");
  assert.equal(providerOf("codex.sse_event", "x"), "codex");
  assert.equal(providerOf("api_request", "claude-code"), "claude-code");
  assert.equal(providerOf("http.request", "nginx"), null);
});

test("Gemini thoughts are billed output on the telemetry path too", () => {
  const e = toEvent({ "service.name": "gemini-cli" }, { model: "gemini-2.5-pro", input_token_count: 1000, output_token_count: 100, thoughts_token_count: 400, cached_content_token_count: 200, duration_ms: 900 }, "gemini_cli.api_response", T)!;
  assert.deepEqual(e.usage, { input: 800, output: 500, reasoning: 400, cacheWrite5m: 0, cacheWrite1h: 0, cacheRead: 200 });
});

test("api_error durations are not request latencies; Codex's api_request and its response.completed make one request", () => {
  const err = toEvent({}, { duration_ms: 30_000, status_code: 529 }, "claude_code.api_error", T)!;
  assert.equal(err.kind, "api_error");
  assert.equal(err.latencyMs, null);
  const req = toEvent({}, { "conversation.id": "c1", duration_ms: 1500, "http.response.status_code": 200, model: "gpt-5-codex" }, "codex.api_request", T)!;
  const usage = toEvent({}, { "conversation.id": "c1", "event.kind": "response.completed", duration_ms: 9000, input_token_count: 1000, output_token_count: 50, cached_token_count: 300, reasoning_token_count: 20 }, "codex.sse_event", T + 10)!;
  assert.equal(req.kind, "request");
  assert.equal(req.latencyMs, 1500);
  assert.equal(usage.kind, "usage");
  assert.equal(usage.latencyMs, null);
  const tx = asTranscriptEvents([req, usage]);
  assert.equal(tx.length, 1);
  assert.equal(tx[0]!.kind, "request");
  assert.equal((tx[0] as Extract<typeof tx[0], { kind: "request" }>).usage.output, 50);
  const sig = mergeTelemetry(null, [req, usage], { now: T + 1000 })!;
  assert.equal(sig.requestsPerMin, 1 / 5);
  assert.deepEqual(sig.requestLatencyMs, { p50: 1500, p95: 1500 });
});

test("without a transcript, Claude's own cost_usd prices its requests", () => {
  const e = (usd: number): TelemetryEvent => toEvent({}, { "session.id": "s", model: "claude-some-future-model", input_tokens: 10, output_tokens: 10, cost_usd: usd, duration_ms: 100 }, "claude_code.api_request", T - 1000)!;
  const sig = mergeTelemetry(null, [e(0.5), e(0.25)], { now: T })!;
  assert.equal(sig.spendLastHourUsd, 0.75);
  assert.equal(sig.usdPerHour, 0.75 * 12);
});

function agent(startTime: number, totals: { requests: number; errors: number; input: number } | null): FleetAgent {
  return {
    name: "claude-code", pid: 4242, provider: "claude-code", source: "discovered", confidence: 1, reason: "", command: "claude", cwd: "/w", startTime,
    resource: { uptimeSec: 1, cpuPct: 0, rssBytes: 1, children: 0 }, lastOutputAt: T, stdoutPath: null, status: "active", openIncidents: [],
    transcript: totals && {
      provider: "claude-code", sessionId: "s", transcriptPath: null, model: "m", unpriced: false, tokensPerMin: 0, usdPerHour: 0, spendLastHourUsd: 0, totalUsd: totals.input / 1000, requestsPerMin: 0, errorRatePct: null,
      toolFailures: 0, turnLatencyMs: null, contextPct: null, rateLimits: null, lastEventAt: T, waitingForInput: false, recent: [],
      totals: { requests: totals.requests, errors: totals.errors, usage: { input: totals.input, output: 0, reasoning: 0, cacheWrite5m: 0, cacheWrite1h: 0, cacheRead: 0 } },
    },
  };
}

test("counters and the latency histogram exist at zero from an agent's first sight, then count only what is new", () => {
  let now = T;
  const m = new FleetMetrics({}, () => now);
  const old: TelemetryEvent = { provider: "claude-code", sessionId: "s", pid: null, t: T - 60_000, kind: "request", model: "m", latencyMs: 2000, usage: null, usd: null, status: null, ok: true, tool: null };
  const events = [old];
  // already running with history when we start: first sight publishes zeros
  m.update({ takenAt: now, agents: [agent(T - 3_600_000, { requests: 50, errors: 3, input: 9000 })], warnings: [] }, () => events, 0.1);
  let text = renderPrometheus(m.collect());
  assert.match(text, /^opensre_agent_requests_total\{[^}]*process_pid="4242"[^}]*\} 0$/m);
  assert.match(text, /^gen_ai_client_operation_duration_seconds_count\{[^}]*process_pid="4242"[^}]*\} 0$/m);
  assert.match(text, /^gen_ai_client_operation_duration_seconds_bucket\{[^}]*le="\+Inf"\} 0$/m);
  assert.match(text, /^opensre_agent_token_usage_total\{[^}]*gen_ai_token_type="cache_creation"\} 0$/m);
  // one request and one error later
  now += 10_000;
  events.push({ ...old, t: now, latencyMs: 700 });
  m.update({ takenAt: now, agents: [agent(T - 3_600_000, { requests: 52, errors: 4, input: 9500 })], warnings: [] }, () => events, 0.1);
  text = renderPrometheus(m.collect());
  assert.match(text, /^opensre_agent_requests_total\{[^}]*\} 2$/m);
  assert.match(text, /^opensre_agent_errors_total\{[^}]*\} 1$/m);
  assert.match(text, /^opensre_agent_token_usage_total\{[^}]*gen_ai_token_type="input"\} 500$/m);
  assert.match(text, /^gen_ai_client_operation_duration_seconds_count\{[^}]*\} 1$/m);
  assert.match(text, /^gen_ai_client_operation_duration_seconds_bucket\{[^}]*le="0\.64"\} 0$/m);
  assert.match(text, /^gen_ai_client_operation_duration_seconds_bucket\{[^}]*le="1\.28"\} 1$/m);
  assert.match(text, /^gen_ai_client_operation_duration_seconds_sum\{[^}]*\} 0\.7$/m);
});

test("label values from outside are escaped in the exposition (quote, backslash, newline)", () => {
  const m = new FleetMetrics();
  const a = agent(T, null);
  a.name = 'evil"\\\nname';
  m.update({ takenAt: T, agents: [a], warnings: [] }, () => [], 0.1);
  const text = renderPrometheus(m.collect());
  assert.match(text, /^opensre_agent_up\{opensre_agent_name="evil\\"\\\\\\nname",opensre_agent_provider="claude-code",process_pid="4242"\} 1$/m);
});
