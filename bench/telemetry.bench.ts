import { request } from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FleetAgent, FleetSnapshot } from "../src/fleet/model.js";
import type { TelemetryEvent } from "../src/telemetry/events.js";
import { FleetMetrics } from "../src/telemetry/fleet-metrics.js";
import { renderPrometheus } from "../src/telemetry/prometheus.js";
import { OtlpReceiver } from "../src/telemetry/receiver.js";
import { MAX_SPOOL_BYTES, MAX_SPOOL_FILES, TelemetrySpool } from "../src/telemetry/spool.js";
import { TelemetryStore } from "../src/telemetry/store.js";

/**
 * OTLP receiver throughput (Claude-shaped log events per second, JSON over HTTP with
 * keep-alive, spooled to disk) against an HTTP server that only drains the same requests;
 * the /metrics rendering time with 100 agents against plain lines of the same count; and
 * the spool under a flood of 20,000 distinct session ids (files, bytes, a reader's refresh)
 * against one session.
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

/** 20,000 Claude events, each with its own session id, through the spool; then one reader refresh. */
async function spoolFlood(write: (s: string) => void): Promise<void> {
  const run = async (sessions: number) => {
    const dir = mkdtempSync(join(tmpdir(), "osre-bench-spool-"));
    try {
      const spool = new TelemetrySpool(dir);
      const now = Date.now();
      const t0 = performance.now();
      for (let i = 0; i < 20_000; i++) {
        spool.append([{ provider: "claude-code", sessionId: `s-${i % sessions}`, pid: null, t: now, kind: "request", model: "claude-sonnet-4-5-20250929", latencyMs: 900, usage: { input: 100, output: 50, reasoning: 0, cacheWrite5m: 0, cacheWrite1h: 0, cacheRead: 0 }, usd: 0.001, status: null, ok: true, tool: null }]);
      }
      const appendS = (performance.now() - t0) / 1000;
      const st = spool.stats();
      const store = new TelemetryStore(dir);
      const t1 = performance.now();
      await store.refresh();
      const readMs = performance.now() - t1;
      return { st, appendS, readMs };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  const flood = await run(20_000);
  const one = await run(1);
  write(`spool under a flood of 20,000 distinct session ids (bounds: ${MAX_SPOOL_FILES} files, ${MAX_SPOOL_BYTES / 1024 / 1024} MiB):`);
  write(`  ${flood.st.files} files, ${(flood.st.bytes / 1024).toFixed(0)} KiB kept (${flood.st.evicted.files} evicted), appends ${flood.appendS.toFixed(2)} s, first reader refresh ${flood.readMs.toFixed(0)} ms; baseline one session: ${one.st.files} file, ${(one.st.bytes / 1024).toFixed(0)} KiB, appends ${one.appendS.toFixed(2)} s, refresh ${one.readMs.toFixed(0)} ms`);
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
    const receiver = new OtlpReceiver({ port: 0, now: () => Date.now(), onEvents: (e) => { events += e.length; spool.append(e); } });
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
    m.update(snap, (_s, pid) => tel.get(pid) ?? [], 0.04);
    const times: number[] = [];
    let text = "";
    for (let i = 0; i < 50; i++) {
      const t0 = performance.now();
      text = renderPrometheus(m.collect());
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    const lines = text.split("\n").length;
    const base: number[] = [];
    for (let i = 0; i < 50; i++) {
      const t0 = performance.now();
      const l: string[] = [];
      for (let j = 0; j < lines; j++) l.push(`plain_gauge{agent="a${j}",pid="${j}",provider="p"} ${j}`);
      l.join("\n");
      base.push(performance.now() - t0);
    }
    base.sort((a, b) => a - b);
    out(`/metrics with 100 agents (${lines} lines, ${Math.round(text.length / 1024)} KiB): median ${times[25]!.toFixed(1)} ms, max ${times[49]!.toFixed(1)} ms; baseline ${lines} plain lines joined: median ${base[25]!.toFixed(1)} ms`);

    await spoolFlood(out);
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}
