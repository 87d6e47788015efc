import { request } from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FleetAgent, FleetSnapshot } from "../src/fleet/model.js";
import type { TelemetryEvent } from "../src/telemetry/events.js";
import { FleetMetrics } from "../src/telemetry/prometheus.js";
import { OtlpReceiver } from "../src/telemetry/receiver.js";
import { TelemetrySpool } from "../src/telemetry/spool.js";

/**
 * OTLP receiver throughput (Claude-shaped log events per second, JSON over HTTP with
 * keep-alive, spooled to disk) against an HTTP server that only drains the same requests;
 * and the /metrics rendering time with 100 agents against a registry of the same size
 * holding plain gauges only.
 */
const out = (s: string) => process.stdout.write(s + "\n");

function batch(n: number, session: string): string {
  const now = BigInt(Date.now()) * 1_000_000n;
  const logRecords = Array.from({ length: n }, (_, i) => ({
    timeUnixNano: String(now + BigInt(i)),
    body: { stringValue: "claude_code.api_request" },
    attributes: [
      { key: "event.name", value: { stringValue: "api_request" } },
      { key: "session.id", value: { stringValue: session } },
      { key: "model", value: { stringValue: "claude-sonnet-4-5-20250929" } },
      { key: "duration_ms", value: { intValue: String(800 + (i % 400)) } },
      { key: "input_tokens", value: { intValue: "1200" } },
      { key: "output_tokens", value: { intValue: "300" } },
      { key: "cost_usd", value: { doubleValue: 0.0081 } },
    ],
  }));
  return JSON.stringify({ resourceLogs: [{ resource: { attributes: [{ key: "service.name", value: { stringValue: "claude-code" } }] }, scopeLogs: [{ logRecords }] }] });
}

async function blast(port: number, body: string, requests: number, concurrency: number): Promise<number> {
  const { Agent } = await import("node:http");
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  let next = 0;
  const t0 = performance.now();
  const worker = async () => {
    while (next < requests) {
      next++;
      await new Promise<void>((resolve, reject) => {
        const req = request({ host: "127.0.0.1", port, path: "/v1/logs", method: "POST", agent, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) } }, (res) => {
          res.resume();
          res.on("end", () => (res.statusCode === 200 ? resolve() : reject(new Error(`status ${res.statusCode}`))));
        });
        req.on("error", reject);
        req.end(body);
      });
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  agent.destroy();
  return (performance.now() - t0) / 1000;
}

export default async function telemetryBench(): Promise<void> {
  const home = mkdtempSync(join(tmpdir(), "osre-bench-"));
  try {
    const perBatch = 100;
    const requests = 1000;
    const body = batch(perBatch, "bench-session");
    // baseline: a server that drains and answers the same requests
    const { createServer } = await import("node:http");
    const plain = createServer((req, res) => {
      req.resume();
      req.on("end", () => res.end("{}"));
    });
    await new Promise<void>((r) => plain.listen(0, "127.0.0.1", () => r()));
    const basePort = (plain.address() as { port: number }).port;
    const baseS = await blast(basePort, body, requests, 8);
    plain.close();

    const spool = new TelemetrySpool(home);
    let events = 0;
    const receiver = new OtlpReceiver({ port: 0, onEvents: (e) => { events += e.length; spool.append(e); } });
    const port = await receiver.start();
    const s = await blast(port, body, requests, 8);
    await receiver.close();
    out(`OTLP receiver: ${(requests * perBatch).toLocaleString("en-US")} Claude api_request events in ${requests} JSON requests of ${perBatch}, 8 connections:`);
    out(`  ${Math.round(events / s).toLocaleString("en-US")} events/s decoded, normalised and spooled; baseline drain-only server ${Math.round((requests * perBatch) / baseS).toLocaleString("en-US")} events/s`);

    // /metrics with 100 agents
    const agents: FleetAgent[] = Array.from({ length: 100 }, (_, i) => ({
      name: `agent${i}`, pid: 10_000 + i, provider: i % 2 ? "codex" : "claude-code", source: "discovered", confidence: 1, reason: "", command: "x", cwd: "/w",
      startTime: i, resource: { uptimeSec: 100, cpuPct: 3, rssBytes: 2e8, children: 2 }, lastOutputAt: null, stdoutPath: null, status: "active", openIncidents: [],
      transcript: { provider: "claude-code", sessionId: `s${i}`, transcriptPath: null, model: "claude-sonnet-4-5-20250929", unpriced: false, tokensPerMin: 1000, usdPerHour: 2, spendLastHourUsd: 1, totalUsd: 3, requestsPerMin: 2, errorRatePct: 1, toolFailures: 0, turnLatencyMs: null, contextPct: null, rateLimits: null, lastEventAt: null, waitingForInput: false, recent: [] },
    }));
    const snap: FleetSnapshot = { takenAt: Date.now(), agents, warnings: [] };
    const tel = new Map<number, TelemetryEvent[]>(agents.map((a) => [a.pid, Array.from({ length: 50 }, (_, j) => ({ provider: "claude-code", sessionId: null, pid: a.pid, t: j, kind: "request" as const, model: "m", latencyMs: 500 + j * 20, usage: null, usd: null, status: null, ok: true, tool: null }))]));
    const m = new FleetMetrics();
    m.update(snap, (_s, pid) => tel.get(pid) ?? [], 0.04);
    const times: number[] = [];
    let bytes = 0;
    for (let i = 0; i < 50; i++) {
      const t0 = performance.now();
      bytes = (await m.text()).length;
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    const { Registry, Gauge } = await import("prom-client");
    const r = new Registry();
    const g = new Gauge({ name: "plain_gauge", help: "h", labelNames: ["agent", "pid", "provider", "model", "host"], registers: [r] });
    for (let i = 0; i < 100 * 14; i++) g.set({ agent: `a${i}`, pid: String(i), provider: "p", model: "m", host: "h" }, i);
    const base: number[] = [];
    for (let i = 0; i < 50; i++) {
      const t0 = performance.now();
      await r.metrics();
      base.push(performance.now() - t0);
    }
    base.sort((a, b) => a - b);
    out(`/metrics with 100 agents (${Math.round(bytes / 1024)} KiB): median ${times[25]!.toFixed(1)} ms, max ${times[49]!.toFixed(1)} ms; baseline ${100 * 14} plain gauge series median ${base[25]!.toFixed(1)} ms`);
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}
