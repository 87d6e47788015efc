import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { createServer, request } from "node:http";
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { networkInterfaces } from "node:os";
import { join } from "node:path";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import { OTLPLogExporter as JsonLogExporter } from "@opentelemetry/exporter-logs-otlp-http";
import { OTLPLogExporter as ProtoLogExporter } from "@opentelemetry/exporter-logs-otlp-proto";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { LoggerProvider, SimpleLogRecordProcessor, type LogRecordExporter } from "@opentelemetry/sdk-logs";
import { CliProcess, runCli } from "../helpers/cli.js";
import { isolatedEnv, tempDir } from "../helpers/env.js";
import { claudeProjectDir } from "../../src/fleet/transcripts/match.js";
import type { FleetSnapshot, FleetAgent } from "../../src/fleet/model.js";
import { OtlpReceiver, isLoopback, MAX_BODY_BYTES } from "../../src/telemetry/receiver.js";
import { FleetMetrics } from "../../src/telemetry/fleet-metrics.js";
import { renderPrometheus } from "../../src/telemetry/prometheus.js";
import type { TelemetryEvent } from "../../src/telemetry/events.js";

const require = createRequire(import.meta.url);
const parsePrometheus = require("parse-prometheus-text-format") as (text: string) => Array<{ name: string; type: string; metrics: Array<{ labels?: Record<string, string>; value?: string; count?: string; buckets?: Record<string, string> }> }>;

const SESSION = "44444444-5555-4666-8777-888888888888";

function setup(t: { after: (f: () => void) => void }) {
  const dir = tempDir();
  t.after(dir.cleanup);
  const bin = join(dir.path, "bin");
  mkdirSync(bin);
  const shop = join(dir.path, "shop");
  mkdirSync(shop);
  const home = join(dir.path, "home");
  mkdirSync(home);
  copyFileSync("/bin/sleep", join(bin, "claude"));
  copyFileSync("/bin/sleep", join(bin, "gemini"));
  return { dir: dir.path, bin, shop, home, env: isolatedEnv(home) };
}

function agent(t: { after: (f: () => void) => void }, bin: string, cwd: string): ChildProcess {
  const p = spawn(bin, ["300"], { cwd, stdio: "ignore" });
  t.after(() => p.kill("SIGKILL"));
  return p;
}

/** Emit log records through the official SDK and exporter, then flush. */
async function emit(exporter: LogRecordExporter, resource: Record<string, string | number>, records: Array<{ body: string; attributes: Record<string, string | number | boolean> }>): Promise<void> {
  const provider = new LoggerProvider({ resource: resourceFromAttributes(resource), processors: [new SimpleLogRecordProcessor(exporter)] });
  const logger = provider.getLogger("test");
  for (const r of records) logger.emit({ body: r.body, attributes: r.attributes });
  await provider.forceFlush();
  await provider.shutdown();
}

function post(port: number, path: string, body: Buffer | string, headers: Record<string, string>, method = "POST", host = "127.0.0.1"): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path, method, headers }, (res) => {
      let b = "";
      res.setEncoding("utf8").on("data", (d: string) => (b += d)).on("end", () => resolve({ status: res.statusCode!, body: b }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

test("Claude- and Gemini-shaped OpenTelemetry events reach the dashboard (latency, errors) and /metrics; bad requests are refused and the receiver keeps serving", async (t) => {
  const { bin, shop, env } = setup(t);
  const claude = agent(t, join(bin, "claude"), shop);
  const gemini = agent(t, join(bin, "gemini"), shop);
  await new Promise((r) => setTimeout(r, 200));
  // Claude's transcript gives the session id the telemetry is attributed by
  const project = join(env.CLAUDE_CONFIG_DIR!, "projects", claudeProjectDir(shop));
  mkdirSync(project, { recursive: true });
  writeFileSync(join(project, `${SESSION}.jsonl`), JSON.stringify({ cwd: shop, sessionId: SESSION, type: "user", timestamp: new Date().toISOString(), message: { role: "user", content: "go" } }) + "\n");

  const watch = new CliProcess(["agents", "watch", "--interval", "0.3", "--otlp-port", "0", "--metrics-port", "0"], { env });
  t.after(() => watch.kill("SIGKILL"));
  await watch.waitForOutput("Ctrl+C to stop");
  const otlpPort = Number(/receiving OTLP\/HTTP logs and metrics on http:\/\/127\.0\.0\.1:(\d+)\n/.exec(watch.stdout)![1]);
  const metricsPort = Number(/serving Prometheus metrics on http:\/\/127\.0\.0\.1:(\d+)\/metrics\n/.exec(watch.stdout)![1]);

  const claudeRecords = [1000, 2000, 3000].map((ms, i) => ({
    body: "claude_code.api_request",
    attributes: { "event.name": "api_request", "session.id": SESSION, model: "claude-sonnet-4-5-20250929", duration_ms: ms, input_tokens: 100 + i, output_tokens: 50, cache_read_tokens: 0, cache_creation_tokens: 0, cost_usd: 0.001 },
  }));
  await emit(new JsonLogExporter({ url: `http://127.0.0.1:${otlpPort}/v1/logs` }), { "service.name": "claude-code", "service.version": "2.0.14" }, claudeRecords);
  const geminiRecords: Array<{ body: string; attributes: Record<string, string | number | boolean> }> = [
    { body: "API response", attributes: { "event.name": "gemini_cli.api_response", "session.id": "g-1", model: "gemini-2.5-pro", duration_ms: 500, status_code: 200, input_token_count: 1000, output_token_count: 100, cached_content_token_count: 0 } },
    { body: "API response", attributes: { "event.name": "gemini_cli.api_response", "session.id": "g-1", model: "gemini-2.5-pro", duration_ms: 700, status_code: 200, input_token_count: 1000, output_token_count: 100, cached_content_token_count: 0 } },
    { body: "API error", attributes: { "event.name": "gemini_cli.api_error", "session.id": "g-1", model: "gemini-2.5-pro", duration_ms: 900, status_code: 503, error: "overloaded" } },
  ];
  await emit(new ProtoLogExporter({ url: `http://127.0.0.1:${otlpPort}/v1/logs` }), { "service.name": "gemini-cli", "process.pid": gemini.pid! }, geminiRecords);

  // the dashboard (another process) shows exact latency and the error rate
  let snap: FleetSnapshot | undefined;
  for (let i = 0; i < 40; i++) {
    const r = await runCli(["agents", "--json"], { env });
    snap = JSON.parse(r.stdout) as FleetSnapshot;
    const ready = snap.agents.filter((a) => a.transcript?.requestLatencyMs).length === 2;
    if (ready) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  const c = snap!.agents.find((a) => a.pid === claude.pid)!;
  const g = snap!.agents.find((a) => a.pid === gemini.pid)!;
  assert.deepEqual(c.transcript!.requestLatencyMs, { p50: 2000, p95: 3000 });
  assert.equal(c.transcript!.telemetry, true);
  // the api_error's duration is not a request latency (Claude and Gemini emit it after their retries)
  assert.deepEqual(g.transcript!.requestLatencyMs, { p50: 500, p95: 700 });
  assert.equal(g.transcript!.errorRatePct!.toFixed(1), "33.3");
  assert.equal(g.transcript!.model, "gemini-2.5-pro");
  const wide = await runCli(["agents", "--wide"], { env });
  assert.match(wide.stdout.split("\n").find((l) => l.startsWith("gemini"))!, /^gemini +\d+ .* 33\.3 +\S+ ago +\S+ +500\/700 ms +/);

  // Prometheus text, parsed by a Prometheus text-format parser
  let families: ReturnType<typeof parsePrometheus> = [];
  let raw = "";
  const countLine = () => raw.split("\n").find((l) => l.includes(`process_pid="${gemini.pid}"`) && l.startsWith("gen_ai_client_operation_duration_seconds_count{"));
  for (let i = 0; i < 40; i++) {
    const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
    raw = await res.text();
    families = parsePrometheus(raw);
    if (/ 2$/.test(countLine() ?? "")) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  const fam = (name: string) => families.find((f) => f.name === name)!;
  // (other tests' fake agents may be running on the machine too: look for ours)
  const up = fam("opensre_agent_up").metrics.map((m) => m.labels!.process_pid);
  assert.ok(up.includes(String(claude.pid)) && up.includes(String(gemini.pid)), up.join(","));
  // the latency histogram (semantic conventions' buckets) holds the two successful Gemini requests, not the api_error
  const line = (le: string) => raw.split("\n").find((l) => l.includes(`process_pid="${gemini.pid}"`) && l.startsWith("gen_ai_client_operation_duration_seconds_bucket{") && l.includes(`le="${le}"`));
  assert.match(countLine()!, /^gen_ai_client_operation_duration_seconds_count\{opensre_agent_name="gemini",opensre_agent_provider="gemini",process_pid="\d+",gen_ai_provider_name="gcp\.gemini",gen_ai_operation_name="chat"\} 2$/);
  assert.match(line("0.64")!, / 1$/);
  assert.match(line("1.28")!, / 2$/);
  // SimpleLogRecordProcessor exports every record in its own request
  assert.equal(fam("opensre_telemetry_requests_total").metrics.find((m) => m.labels?.signal === "logs" && m.labels?.result === "accepted")!.value, "6");
  assert.ok(fam("opensre_process_memory_usage_bytes"), "the tool's own health");

  // bad requests: the right status each, and the receiver keeps serving
  assert.equal((await post(otlpPort, "/v1/logs", "not json", { "content-type": "application/json" })).status, 400);
  assert.equal((await post(otlpPort, "/v1/logs", Buffer.from([0xff, 0xff, 0xff]), { "content-type": "application/x-protobuf" })).status, 400);
  assert.equal((await post(otlpPort, "/v1/logs", "{}", { "content-type": "text/plain" })).status, 415);
  assert.equal((await post(otlpPort, "/v1/logs", "", {}, "GET")).status, 405);
  assert.equal((await post(otlpPort, "/v2/logs", "{}", { "content-type": "application/json" })).status, 404);
  const big = await post(otlpPort, "/v1/logs", Buffer.alloc(MAX_BODY_BYTES + 1, 0x20), { "content-type": "application/json" }).catch(() => ({ status: 413, body: "" }));
  assert.equal(big.status, 413);
  assert.equal((await post(otlpPort, "/v1/logs", JSON.stringify({ resourceLogs: [] }), { "content-type": "application/json" })).status, 200);
  watch.kill("SIGTERM");
  assert.equal((await watch.exited).code, 0);
});

test("non-loopback clients are refused with 403", async (t) => {
  assert.equal(isLoopback("127.0.0.1"), true);
  assert.equal(isLoopback("::1"), true);
  assert.equal(isLoopback("::ffff:127.0.0.1"), true);
  assert.equal(isLoopback("192.168.1.5"), false);
  const external = Object.values(networkInterfaces()).flat().find((i) => i && i.family === "IPv4" && !i.internal);
  if (!external) {
    t.skip("this machine has no non-loopback IPv4 interface to connect from");
    return;
  }
  const r = new OtlpReceiver({ port: 0, host: "0.0.0.0", onEvents: () => undefined });
  const port = await r.start();
  t.after(() => r.close());
  const res = await post(port, "/v1/logs", "{}", { "content-type": "application/json" }, "POST", external.address);
  assert.equal(res.status, 403);
  assert.match(res.body, /only clients on this machine may send telemetry/);
  assert.equal((await post(port, "/v1/logs", "{}", { "content-type": "application/json" })).status, 200, "loopback still served");
  assert.equal(r.stats.requests.get("logs remote"), 1);
});

test("metrics cardinality stays bounded when 1,000 short-lived agents come and go", async () => {
  const m = new FleetMetrics();
  const events: TelemetryEvent[] = [{ provider: "claude-code", sessionId: "s", pid: null, t: 1, kind: "request", model: "m", latencyMs: 1200, usage: null, usd: null, status: null, ok: true, tool: null }];
  const agentAt = (pid: number): FleetAgent => ({
    name: "claude-code", pid, provider: "claude-code", source: "discovered", confidence: 1, reason: "", command: "claude", cwd: "/w", startTime: pid,
    resource: { uptimeSec: 1, cpuPct: 1, rssBytes: 1, children: 0 }, transcript: null, lastOutputAt: null, stdoutPath: null, status: "active", openIncidents: [],
  });
  for (let pid = 1; pid <= 1000; pid++) m.update({ takenAt: pid, agents: [agentAt(pid), agentAt(100_000)], warnings: [] }, (_s, p) => events.map((e) => ({ ...e, pid: p, t: pid })), 0.01);
  const text = renderPrometheus(m.collect());
  const series = (name: string) => text.split("\n").filter((l) => l.startsWith(name + "{") || l.startsWith(name + " ")).length;
  assert.equal(series("opensre_agent_up"), 2);
  assert.equal(series("opensre_agent_status"), 2 * 6);
  assert.equal(series("gen_ai_client_operation_duration_seconds_count"), 2);
  assert.ok(text.split("\n").length < 250, `${text.split("\n").length} lines`);
});

test("--otlp-endpoint pushes metrics and incidents to an OpenTelemetry collector", async (t) => {
  const { dir, bin, shop, home, env } = setup(t);
  const got: Record<string, string[]> = { "/v1/metrics": [], "/v1/logs": [] };
  const collector = createServer((req, res) => {
    let b = "";
    req.setEncoding("utf8").on("data", (d: string) => (b += d)).on("end", () => {
      (got[req.url ?? ""] ??= []).push(b);
      res.writeHead(200, { "content-type": "application/json" });
      res.end("{}");
    });
  });
  await new Promise<void>((r) => collector.listen(0, "127.0.0.1", () => r()));
  t.after(() => collector.close());
  const port = (collector.address() as AddressInfo).port;
  writeFileSync(join(home, "agents.yaml"), "agents:\n  claude-code:\n    progress_minutes: 0.001\n");
  const log = join(dir, "a.log");
  writeFileSync(log, "");
  const p = spawn(join(bin, "claude"), ["300"], { cwd: shop, stdio: ["ignore", "ignore", "ignore"] });
  t.after(() => p.kill("SIGKILL"));
  const a = spawn(join(bin, "claude"), ["300"], { cwd: shop, stdio: ["ignore", (await import("node:fs")).openSync(log, "a"), "ignore"] });
  t.after(() => a.kill("SIGKILL"));
  await new Promise((r) => setTimeout(r, 300));
  const r = await runCli(["agents", "watch", "--once", "--otlp-endpoint", `http://127.0.0.1:${port}`, "--otlp-protocol", "http/json"], { env });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`pushing metrics and incidents to http://127\\.0\\.0\\.1:${port} over OTLP/HTTP \\(http/json\\)\\n`));
  const metrics = got["/v1/metrics"]!.join("\n");
  assert.match(metrics, /"process\.uptime"/);
  assert.match(metrics, /"process\.memory\.usage"/);
  assert.match(metrics, new RegExp(`"process\\.pid","value":\\{"intValue":"${a.pid}"\\}`));
  const logs = got["/v1/logs"]!.join("\n");
  assert.match(logs, /opensre\.incident\.open/);
  assert.match(logs, new RegExp(`incident [0-9a-f]{8} opened: claude-code \\(pid ${a.pid}\\) progress`));
  const bad = await runCli(["agents", "watch", "--once", "--otlp-endpoint", "collector:4318"], { env });
  assert.equal(bad.stderr, "invalid --otlp-endpoint: collector:4318 (an http:// or https:// URL)\n");
});
