import { hostname } from "node:os";
import type { Attributes } from "@opentelemetry/api";
import { SeverityNumber } from "@opentelemetry/api-logs";
import { OTLPLogExporter } from "@opentelemetry/exporter-logs-otlp-http";
import { OTLPMetricExporter } from "@opentelemetry/exporter-metrics-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BatchLogRecordProcessor, LoggerProvider } from "@opentelemetry/sdk-logs";
import { MeterProvider, PeriodicExportingMetricReader } from "@opentelemetry/sdk-metrics";
import type { FleetSnapshot } from "../fleet/model.js";
import type { WatchdogEvent } from "../slo/watchdog.js";
import { describeIncident } from "../slo/watchdog.js";

/** `http://host:4318` → `http://host:4318/v1/metrics`; a URL that already names a signal path is kept. */
export function signalUrl(endpoint: string, signal: "metrics" | "logs"): string {
  const u = endpoint.replace(/\/+$/, "");
  if (/\/v1\/(metrics|logs|traces)$/.test(u)) return u.replace(/\/v1\/(metrics|logs|traces)$/, `/v1/${signal}`);
  return `${u}/v1/${signal}`;
}

/**
 * Pushes the fleet's metrics (observable gauges read from the latest snapshot) and the
 * incidents (as log records) to any OpenTelemetry collector over OTLP/HTTP, with the
 * official SDK and exporters.
 */
export class OtlpPush {
  private readonly meters: MeterProvider;
  private readonly logs: LoggerProvider;
  private snap: FleetSnapshot | null = null;

  constructor(endpoint: string, exportIntervalMs: number) {
    const resource = resourceFromAttributes({ "service.name": "opensre", "host.name": hostname() });
    this.meters = new MeterProvider({
      resource,
      readers: [new PeriodicExportingMetricReader({ exporter: new OTLPMetricExporter({ url: signalUrl(endpoint, "metrics") }), exportIntervalMillis: Math.max(1000, exportIntervalMs) })],
    });
    this.logs = new LoggerProvider({ resource, processors: [new BatchLogRecordProcessor(new OTLPLogExporter({ url: signalUrl(endpoint, "logs") }), { scheduledDelayMillis: 1000 })] });
    const meter = this.meters.getMeter("opensre-agents");
    const gauge = (name: string, unit: string, description: string, value: (a: FleetSnapshot["agents"][number]) => number | null | undefined) => {
      meter.createObservableGauge(name, { unit, description }).addCallback((obs) => {
        for (const a of this.snap?.agents ?? []) {
          const v = value(a);
          if (v === null || v === undefined || !Number.isFinite(v)) continue;
          const attrs: Attributes = { "opensre.agent.name": a.name, "process.pid": a.pid, "gen_ai.system": a.provider, "gen_ai.request.model": a.transcript?.model ?? "" };
          obs.observe(v, attrs);
        }
      });
    };
    gauge("opensre.agent.uptime", "s", "Seconds since the agent process started", (a) => a.resource.uptimeSec);
    gauge("opensre.agent.cpu.utilization", "1", "CPU time per wall-clock time of the agent's process tree", (a) => (a.resource.cpuPct === null ? null : a.resource.cpuPct / 100));
    gauge("opensre.agent.memory.rss", "By", "Resident memory of the agent's process tree", (a) => a.resource.rssBytes);
    gauge("opensre.agent.gen_ai.token.rate", "{token}/min", "Tokens per minute over the last 5 minutes", (a) => a.transcript?.tokensPerMin);
    gauge("opensre.agent.cost.rate", "USD/h", "Projected spend rate over the last 5 minutes", (a) => a.transcript?.usdPerHour);
    gauge("opensre.agent.cost.session", "USD", "Spend of the current session", (a) => a.transcript?.totalUsd);
    gauge("opensre.agent.gen_ai.error.ratio", "1", "API error ratio over the last 5 minutes", (a) => (a.transcript?.errorRatePct == null ? null : a.transcript.errorRatePct / 100));
    gauge("opensre.agent.gen_ai.request.duration.p95", "s", "p95 model request latency from the agent's telemetry", (a) => (a.transcript?.requestLatencyMs ? a.transcript.requestLatencyMs.p95 / 1000 : null));
    gauge("opensre.agent.open_incidents", "{incident}", "Open SLO incidents", (a) => a.openIncidents.length);
  }

  update(snap: FleetSnapshot): void {
    this.snap = snap;
  }

  incident(e: WatchdogEvent): void {
    const i = e.incident;
    this.logs.getLogger("opensre-agents").emit({
      severityNumber: e.kind === "open" ? SeverityNumber.WARN : SeverityNumber.INFO,
      severityText: e.kind === "open" ? "WARN" : "INFO",
      body: describeIncident(e),
      attributes: { "event.name": `opensre.incident.${e.kind}`, "opensre.incident.id": i.id, "opensre.incident.slo": i.slo, "opensre.incident.detail": i.detail, "opensre.agent.name": i.agent, "process.pid": i.pid },
    });
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.meters.forceFlush(), this.logs.forceFlush()]);
    await Promise.allSettled([this.meters.shutdown(), this.logs.shutdown()]);
  }
}
