import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { hostname } from "node:os";
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import { brokerStats } from "../bus/client.js";
import type { FleetSnapshot } from "../fleet/model.js";
import type { TelemetryEvent } from "./events.js";
import type { ReceiverStats } from "./receiver.js";

const LABELS = ["agent", "pid", "provider", "model", "host"] as const;
type Labels = Record<(typeof LABELS)[number], string>;
const STATUSES = ["active", "idle", "stuck", "waiting", "exited", "unknown"];

/**
 * The fleet as Prometheus metrics (prom-client, a private registry). Every update replaces
 * the per-agent series with those of the agents alive now, so agents that come and go do
 * not grow the series count without bound. Names follow Prometheus conventions (base units,
 * `_total` counters, `_seconds`, `_bytes`, `_ratio`).
 */
export class FleetMetrics {
  readonly registry = new Registry();
  private readonly host = hostname();
  private readonly up: Gauge;
  private readonly uptime: Gauge;
  private readonly cpu: Gauge;
  private readonly rss: Gauge;
  private readonly children: Gauge;
  private readonly tokens: Gauge;
  private readonly usdRate: Gauge;
  private readonly spend: Gauge;
  private readonly spendHour: Gauge;
  private readonly requests: Gauge;
  private readonly errors: Gauge;
  private readonly errorRatio: Gauge;
  private readonly status: Gauge;
  private readonly incidents: Gauge;
  private readonly latency: Histogram;
  private readonly refresh: Gauge;
  private readonly agents: Gauge;
  private readonly telemetryIn: Counter;
  private readonly telemetryRejected: Counter;
  private readonly latencySeries = new Map<string, { labels: Labels }>();
  /** Telemetry events already observed (the store keeps the same objects across refreshes). */
  private readonly observed = new WeakSet<TelemetryEvent>();

  constructor(opts: { receiverStats?: () => ReceiverStats | undefined } = {}) {
    const r = [this.registry];
    const g = (name: string, help: string, labelNames: readonly string[] = LABELS) => new Gauge({ name, help, labelNames, registers: r });
    this.up = g("opensre_agent_up", "1 for every agent process alive at the last refresh");
    this.uptime = g("opensre_agent_uptime_seconds", "Seconds since the agent process started");
    this.cpu = g("opensre_agent_cpu_utilization_ratio", "CPU time per wall-clock time of the agent's process tree (1 = one core)");
    this.rss = g("opensre_agent_memory_rss_bytes", "Resident memory of the agent's process tree");
    this.children = g("opensre_agent_child_processes", "Child processes of the agent");
    this.tokens = g("opensre_agent_gen_ai_tokens_per_minute", "gen_ai tokens (input, output, cache) per minute over the last 5 minutes");
    this.usdRate = g("opensre_agent_cost_usd_per_hour", "Projected spend rate over the last 5 minutes, USD per hour");
    this.spend = g("opensre_agent_session_cost_usd", "Spend of the agent's current session, USD");
    this.spendHour = g("opensre_agent_cost_last_hour_usd", "Actual spend over the last hour, USD");
    this.requests = g("opensre_agent_gen_ai_requests_last_hour", "Model requests over the last hour");
    this.errors = g("opensre_agent_gen_ai_errors_last_hour", "Model API errors over the last hour");
    this.errorRatio = g("opensre_agent_gen_ai_error_ratio", "API error ratio over the last 5 minutes (0..1)");
    this.status = g("opensre_agent_status", "1 for the agent's current status", [...LABELS, "status"]);
    this.incidents = g("opensre_agent_open_incidents", "Open SLO incidents of the agent");
    this.latency = new Histogram({
      name: "opensre_agent_gen_ai_request_duration_seconds",
      help: "Model request latency reported by the agent's OpenTelemetry events (gen_ai.client.operation.duration)",
      labelNames: LABELS,
      buckets: [0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128],
      registers: r,
    });
    this.refresh = g("opensre_refresh_duration_seconds", "Duration of the last fleet refresh", []);
    this.agents = g("opensre_agents", "Agents in the fleet at the last refresh", []);
    this.telemetryIn = new Counter({ name: "opensre_telemetry_requests_total", help: "OTLP requests accepted", labelNames: ["signal"], registers: r, collect: () => this.syncReceiver(opts.receiverStats) });
    this.telemetryRejected = new Counter({ name: "opensre_telemetry_rejected_total", help: "OTLP requests rejected", labelNames: ["reason"], registers: r });
    const bus = brokerStats;
    new Gauge({
      name: "opensre_bus_subscribers",
      help: "Subscribers of the bus broker hosted by this process (absent when another process hosts it)",
      registers: r,
      collect() {
        this.reset();
        const s = bus();
        if (s) this.set(s.subscribers);
      },
    });
    new Counter({
      name: "opensre_bus_frames_total",
      help: "Frames the bus broker hosted by this process has broadcast",
      registers: r,
      collect() {
        this.reset();
        const s = bus();
        if (s) this.inc(s.framesIn);
      },
    });
    new Counter({
      name: "opensre_bus_dropped_frames_total",
      help: "Frames the bus broker hosted by this process dropped (slow subscribers, oversized frames)",
      registers: r,
      collect() {
        this.reset();
        const s = bus();
        if (s) this.inc(s.dropped);
      },
    });
    collectDefaultMetrics({ register: this.registry, prefix: "opensre_" });
  }

  private syncReceiver(stats: (() => ReceiverStats | undefined) | undefined): void {
    const s = stats?.();
    if (!s) return;
    this.telemetryIn.reset();
    for (const [signal, n] of Object.entries(s.received)) this.telemetryIn.inc({ signal }, n);
    this.telemetryRejected.reset();
    for (const [reason, n] of Object.entries(s.rejected)) this.telemetryRejected.inc({ reason }, n);
  }

  /** Replace the per-agent series with the snapshot's agents. */
  update(snap: FleetSnapshot, telemetryFor: (sessionId: string | null, pid: number) => readonly TelemetryEvent[], refreshSeconds: number): void {
    for (const m of [this.up, this.uptime, this.cpu, this.rss, this.children, this.tokens, this.usdRate, this.spend, this.spendHour, this.requests, this.errors, this.errorRatio, this.status, this.incidents]) m.reset();
    const seen = new Set<string>();
    for (const a of snap.agents) {
      const t = a.transcript;
      const labels: Labels = { agent: a.name, pid: String(a.pid), provider: a.provider, model: t?.model ?? "", host: this.host };
      this.up.set(labels, 1);
      const set = (gauge: Gauge, v: number | null | undefined) => {
        if (v !== null && v !== undefined && Number.isFinite(v)) gauge.set(labels, v);
      };
      set(this.uptime, a.resource.uptimeSec);
      set(this.cpu, a.resource.cpuPct === null ? null : a.resource.cpuPct / 100);
      set(this.rss, a.resource.rssBytes);
      set(this.children, a.resource.children);
      if (t) {
        set(this.tokens, t.tokensPerMin);
        set(this.usdRate, t.usdPerHour);
        set(this.spend, t.totalUsd);
        set(this.spendHour, t.spendLastHourUsd);
        set(this.requests, t.recent.filter((x) => !x.error).length);
        set(this.errors, t.recent.filter((x) => x.error).length);
        set(this.errorRatio, t.errorRatePct === null ? null : t.errorRatePct / 100);
      }
      for (const st of STATUSES) this.status.set({ ...labels, status: st }, a.status === st ? 1 : 0);
      this.incidents.set(labels, a.openIncidents.length);
      // latency: observe the telemetry events not seen before, per series
      const key = `${a.pid}:${a.startTime}:${labels.model}`;
      seen.add(key);
      this.latencySeries.set(key, { labels });
      for (const e of telemetryFor(t?.sessionId ?? null, a.pid)) {
        if (this.observed.has(e) || e.latencyMs === null || (e.kind !== "request" && e.kind !== "api_error")) continue;
        this.observed.add(e);
        this.latency.observe(labels, e.latencyMs / 1000);
      }
    }
    for (const [key, s] of this.latencySeries) {
      if (seen.has(key)) continue;
      this.latency.remove(s.labels);
      this.latencySeries.delete(key);
    }
    this.refresh.set(refreshSeconds);
    this.agents.set(snap.agents.length);
  }

  async text(): Promise<string> {
    return this.registry.metrics();
  }
}

/** `GET /metrics` on loopback (or the host the user chose). */
export async function serveMetrics(metrics: FleetMetrics, port: number, host = "127.0.0.1"): Promise<{ port: number; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "").split("?")[0];
    if (req.method !== "GET" || path !== "/metrics") {
      res.writeHead(path === "/metrics" ? 405 : 404, { "content-type": "text/plain" });
      res.end(path === "/metrics" ? "use GET\n" : "not found; metrics are at /metrics\n");
      return;
    }
    metrics.text().then(
      (body) => {
        res.writeHead(200, { "content-type": metrics.registry.contentType });
        res.end(body);
      },
      (err: Error) => {
        res.writeHead(500, { "content-type": "text/plain" });
        res.end(`${err.message}\n`);
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
