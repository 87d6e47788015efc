import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { appendFileSync, copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { CliProcess, runCli } from "../helpers/cli.js";
import { isolatedEnv, tempDir, WAIT_MS } from "../helpers/env.js";
import { claudeProjectDir } from "../../src/fleet/transcripts/match.js";
import { OtlpReceiver } from "../../src/telemetry/receiver.js";
import type { MetricsRequest } from "../../src/telemetry/otlp.js";
import { resolveExportConfig, parseOtlpHeaders } from "../../src/telemetry/otlp-export.js";
import { decodeMetricsOfficial, scraped, translate } from "./otlp-to-prometheus.js";
import { promtool } from "./promtool.js";

const SESSION = "55555555-6666-4777-8888-999999999999";

function claudeLine(i: number): string {
  return JSON.stringify({
    type: "assistant", sessionId: SESSION, timestamp: new Date().toISOString(), requestId: `req_${i}`,
    message: { id: `msg_${i}`, role: "assistant", model: "claude-sonnet-4-5-20250929", content: [{ type: "text", text: "ok" }], usage: { input_tokens: 1000, output_tokens: 200, cache_read_input_tokens: 500, cache_creation_input_tokens: 100 } },
  }) + "\n";
}

function setup(t: { after: (f: () => void) => void }) {
  const dir = tempDir();
  t.after(dir.cleanup);
  const bin = join(dir.path, "bin");
  const shop = join(dir.path, "shop");
  const home = join(dir.path, "home");
  for (const d of [bin, shop, home]) mkdirSync(d);
  copyFileSync("/bin/sleep", join(bin, "claude"));
  const env = isolatedEnv(home);
  const project = join(env.CLAUDE_CONFIG_DIR!, "projects", claudeProjectDir(shop));
  mkdirSync(project, { recursive: true });
  const transcript = join(project, `${SESSION}.jsonl`);
  writeFileSync(transcript, JSON.stringify({ cwd: shop, sessionId: SESSION, type: "user", timestamp: new Date().toISOString(), message: { role: "user", content: "go" } }) + "\n" + claudeLine(0));
  return { dir: dir.path, bin, shop, home, env, transcript };
}

function spawnAgent(t: { after: (f: () => void) => void }, bin: string, cwd: string): ChildProcess {
  const p = spawn(bin, ["300"], { cwd, stdio: "ignore" });
  t.after(() => p.kill("SIGKILL"));
  return p;
}

/** A receiver that speaks OTLP/HTTP protobuf only (as VictoriaMetrics does): JSON gets 400; decoding uses the official generated code. */
async function protobufOnlyReceiver(t: { after: (f: () => void) => void }) {
  const got: Array<{ path: string; req: ReturnType<typeof decodeMetricsOfficial> | null; headers: IncomingMessage["headers"] }> = [];
  let refuseWith = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c)).on("end", () => {
      let body = Buffer.concat(chunks);
      if (req.headers["content-encoding"] === "gzip") body = gunzipSync(body);
      if (refuseWith) {
        res.writeHead(refuseWith, { "content-type": "text/plain" }).end("cannot process request\n");
        got.push({ path: req.url ?? "", req: null, headers: req.headers });
        return;
      }
      if (req.headers["content-type"] !== "application/x-protobuf") {
        res.writeHead(400, { "content-type": "text/plain" }).end("json encoding isn't supported for opentelemetry format\n");
        got.push({ path: req.url ?? "", req: null, headers: req.headers });
        return;
      }
      got.push({ path: req.url ?? "", req: req.url === "/v1/metrics" ? decodeMetricsOfficial(body) : null, headers: req.headers });
      res.writeHead(200, { "content-type": "application/x-protobuf" }).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  t.after(() => server.close());
  return { port: (server.address() as AddressInfo).port, got, refuse: (status: number) => (refuseWith = status) };
}

const ours = (pids: number[]) => (key: string) => {
  if (key.startsWith("target_info{")) return true;
  const pid = /process_pid="(\d+)"/.exec(key)?.[1];
  return pid === undefined || pids.includes(Number(pid));
};

test("one metric model: every /metrics series reaches a protobuf-only OTLP receiver and our own /v1/metrics under the translated names; promtool check metrics passes", async (t) => {
  const { shop, env, bin, transcript } = setup(t);
  const claude = spawnAgent(t, join(bin, "claude"), shop);
  await new Promise((r) => setTimeout(r, 200));
  const pb = await protobufOnlyReceiver(t);
  const watch = new CliProcess(["agents", "watch", "--interval", "0.4", "--metrics-port", "0", "--otlp-port", "0", "--otlp-endpoint", `http://127.0.0.1:${pb.port}`], { env });
  t.after(() => watch.kill("SIGKILL"));
  await watch.waitForOutput("Ctrl+C to stop", WAIT_MS);
  assert.match(watch.stdout, new RegExp(`pushing metrics and incidents to http://127\\.0\\.0\\.1:${pb.port} over OTLP/HTTP \\(http/protobuf\\)\\n`));
  const metricsPort = Number(/serving Prometheus metrics on http:\/\/127\.0\.0\.1:(\d+)\/metrics/.exec(watch.stdout)![1]);
  // new requests after the first sight of its transcript: the counters count them. The agent's row can show before its
  // transcript is mapped (then the appended lines would be part of what was there at the first sight): wait for its model.
  const mapped = new RegExp(`opensre_agent_info\\{[^}]*process_pid="${claude.pid}"[^}]*gen_ai_request_model="claude-[^"]+"`);
  for (let i = 0; i < 400 && !mapped.test(await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text()); i++) await new Promise((r) => setTimeout(r, 100));
  appendFileSync(transcript, claudeLine(1) + claudeLine(2));
  const pushes = () => pb.got.filter((g) => g.path === "/v1/metrics" && g.req);
  const deadline = Date.now() + 45_000;
  let text = "";
  let last: Map<string, number> | undefined;
  while (Date.now() < deadline) {
    const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
    text = await res.text();
    if (/opensre_agent_requests_total\{[^}]*process_pid="\d+"[^}]*\} 2\n/.test(text) && text.includes(`process_pid="${claude.pid}"`)) {
      const n = pushes().length;
      while (pushes().length === n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      last = translate(pushes().at(-1)!.req!);
      if ([...last.keys()].some((k) => k.startsWith("opensre_agent_requests_total") && k.includes(`process_pid="${claude.pid}"`) && last!.get(k) === 2)) break;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.ok(last, `no push with the counted requests arrived; /metrics:\n${text}`);
  assert.equal(pb.got.filter((g) => g.headers["content-type"] !== "application/x-protobuf").length, 0, "every push is protobuf");
  const scrape = scraped(text, { job: "opensre-agents", instance: "" });
  const keep = ours([claude.pid!]);
  const norm = (m: Map<string, number>) => new Set([...m.keys()].filter(keep).map((k) => k.replace(/instance="[^"]*"/, 'instance=""')));
  const a = norm(scrape);
  const b = norm(last);
  const missing = [...a].filter((k) => !b.has(k));
  const extra = [...b].filter((k) => !a.has(k));
  assert.deepEqual({ missing, extra }, { missing: [], extra: [] }, "the scrape and the push hold the same series");
  for (const name of [
    "opensre_agent_up", "opensre_agent_status", "opensre_agent_info", "process_uptime_seconds", "process_cpu_utilization_ratio", "process_memory_usage_bytes",
    "opensre_agent_child_processes", "opensre_agent_last_output_timestamp_seconds", "opensre_agent_token_usage_total", "opensre_agent_cost_USD_total",
    "opensre_agent_requests_total", "opensre_agent_errors_total", "gen_ai_client_operation_duration_seconds_bucket", "opensre_agent_open_incidents",
    "opensre_telemetry_connections", "opensre_export_requests_total", "opensre_process_cpu_time_seconds_total", "target_info",
  ]) assert.ok([...a].some((k) => k.startsWith(`${name}{`)), `${name} on both paths`);
  // the counters count what happened after the first sight, by token type, on both paths
  const key = (name: string, extraLabels = "") => `${name}{gen_ai_provider_name="anthropic",${extraLabels}instance="",job="opensre-agents",opensre_agent_name="claude-code",opensre_agent_provider="claude-code",process_pid="${claude.pid}"}`;
  const value = (m: Map<string, number>, k: string) => [...m].find(([x]) => x.replace(/instance="[^"]*"/, 'instance=""') === k)?.[1];
  assert.equal(value(scrape, key("opensre_agent_token_usage_total", 'gen_ai_token_type="input",')), 2000);
  assert.equal(value(last, key("opensre_agent_token_usage_total", 'gen_ai_token_type="output",')), 400);
  assert.equal(value(last, key("opensre_agent_requests_total")), 2);
  assert.ok(value(last, key("opensre_agent_cost_USD_total"))! > 0);

  const tool = promtool();
  if (tool) {
    const r = spawnSync(tool, ["check", "metrics"], { input: text, encoding: "utf8" });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.equal(r.stdout + r.stderr, "");
  }

  // the same model over OTLP/JSON into our own receiver's /v1/metrics
  const received: MetricsRequest[] = [];
  const own = new OtlpReceiver({ port: 0, onEvents: () => undefined, onMetrics: (m) => received.push(m) });
  const ownPort = await own.start();
  t.after(() => own.close());
  const once = await runCli(["agents", "watch", "--once", "--otlp-endpoint", `http://127.0.0.1:${ownPort}`, "--otlp-protocol", "http/json"], { env, timeoutMs: 60_000 });
  assert.equal(once.code, 0, once.stderr);
  assert.equal(once.stderr, "");
  assert.ok(received.length >= 1);
  const json = norm(translate(received.at(-1) as Parameters<typeof translate>[0]));
  const agentSeries = (s: Set<string>) => new Set([...s].filter((k) => k.includes(`process_pid="${claude.pid}"`)));
  assert.deepEqual([...agentSeries(json)].sort(), [...agentSeries(a)].sort(), "every per-agent series over OTLP/JSON too");
  watch.kill("SIGTERM");
  assert.equal((await watch.exited).code, 0);
});

test("a push the receiver refuses is reported once per change of state on stderr and as a metric, and recovery is reported", async (t) => {
  const { env } = setup(t);
  const pb = await protobufOnlyReceiver(t);
  pb.refuse(400);
  const watch = new CliProcess(["agents", "watch", "--interval", "0.2", "--metrics-port", "0", "--otlp-endpoint", `http://127.0.0.1:${pb.port}`], { env });
  t.after(() => watch.kill("SIGKILL"));
  await watch.waitForOutput("Ctrl+C to stop", WAIT_MS);
  const metricsPort = Number(/serving Prometheus metrics on http:\/\/127\.0\.0\.1:(\d+)\/metrics/.exec(watch.stdout)![1]);
  await watch.waitFor(() => pb.got.length >= 3, WAIT_MS, "three refused pushes");
  const failLine = `warning: OTLP metrics push to http://127.0.0.1:${pb.port}/v1/metrics failed: HTTP 400 Bad Request: cannot process request\n`;
  assert.equal(watch.stderr.split(failLine).length - 1, 1, watch.stderr);
  assert.match(watch.stderr, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ warning: OTLP metrics push/);
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  assert.match(text, /^opensre_export_failing\{signal="metrics"\} 1$/m);
  const failed = Number(/^opensre_export_requests_total\{signal="metrics",result="failed"\} (\d+)$/m.exec(text)![1]);
  assert.ok(failed >= 2, text);
  pb.refuse(0);
  await watch.waitFor((_o, e) => e.includes(`OTLP metrics push to http://127.0.0.1:${pb.port}/v1/metrics works again\n`), WAIT_MS, "recovery");
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(watch.stderr.split("\n").filter((l) => l).length, 2, watch.stderr);
  const after = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  assert.match(after, /^opensre_export_failing\{signal="metrics"\} 0$/m);
  watch.kill("SIGTERM");
  assert.equal((await watch.exited).code, 0);
});

test("the push honours the standard OTEL_EXPORTER_OTLP_* variables (headers, signal endpoint, protocol, compression, timeout)", async (t) => {
  const { env } = setup(t);
  const pb = await protobufOnlyReceiver(t);
  const r = await runCli(["agents", "watch", "--once", "--otlp-endpoint", "http://127.0.0.1:1"], {
    timeoutMs: 60_000,
    env: { ...env, OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: `http://127.0.0.1:${pb.port}/v1/metrics`, OTEL_EXPORTER_OTLP_HEADERS: "Authorization=Bearer%20s3cret,x-tenant=dev", OTEL_EXPORTER_OTLP_COMPRESSION: "gzip", OTEL_EXPORTER_OTLP_PROTOCOL: "http/json", OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: "http/protobuf" },
  });
  assert.equal(r.code, 0, r.stderr);
  const m = pb.got.find((g) => g.path === "/v1/metrics")!;
  assert.equal(m.headers.authorization, "Bearer s3cret");
  assert.equal(m.headers["x-tenant"], "dev");
  assert.equal(m.headers["content-encoding"], "gzip");
  assert.ok(m.req?.resourceMetrics?.length, "decoded as protobuf");
  assert.deepEqual(parseOtlpHeaders("a=1, b = x%3Dy ,broken,=v"), { a: "1", b: "x=y" });
  const cfg = resolveExportConfig("logs", { endpoint: "http://c:4318/" }, { OTEL_EXPORTER_OTLP_TIMEOUT: "2500", OTEL_EXPORTER_OTLP_PROTOCOL: "http/json" });
  assert.deepEqual([cfg.url, cfg.protocol, cfg.timeoutMs, cfg.gzip], ["http://c:4318/v1/logs", "http/json", 2500, false]);
  const bad = await runCli(["agents", "watch", "--once", "--otlp-endpoint", "http://127.0.0.1:1", "--otlp-protocol", "grpc"], { env, timeoutMs: 60_000 });
  assert.equal(bad.code, 2);
  assert.equal(bad.stderr, "invalid --otlp-protocol: grpc (http/protobuf or http/json)\n");
  const badEnv = await runCli(["agents", "watch", "--once", "--otlp-endpoint", "http://127.0.0.1:1"], { env: { ...env, OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" } });
  assert.equal(badEnv.stderr, "invalid OTEL_EXPORTER_OTLP_PROTOCOL: grpc (http/protobuf or http/json; grpc is not supported)\n");
});
