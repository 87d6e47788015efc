import { readFileSync } from "node:fs";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { createRequire } from "node:module";
import { gzipSync } from "node:zlib";
import type { WatchdogEvent } from "../slo/watchdog.js";
import { describeIncident } from "../slo/watchdog.js";
import type { Attrs, Collection, HistogramPoint, NumberPoint } from "./fleet-metrics.js";
import { encodeOtlp, type KeyValue } from "./otlp.js";

/**
 * The OTLP/HTTP push of `agents watch --otlp-endpoint`: the metric model's collection
 * (the same instruments `/metrics` serves) and every incident as a log record, in
 * protobuf (default) or JSON, configured like every OpenTelemetry SDK by the standard
 * `OTEL_EXPORTER_OTLP_*` variables. A push that fails is reported once per change of
 * state (on stderr by the caller, and as `opensre.export.*` metrics), never silently.
 */
export type OtlpProtocol = "http/protobuf" | "http/json";
export const OTLP_PROTOCOLS: readonly OtlpProtocol[] = ["http/protobuf", "http/json"];
export type PushSignal = "metrics" | "logs";

/** Time limit of one push when OTEL_EXPORTER_OTLP_TIMEOUT says nothing (the SDKs' default). */
export const DEFAULT_EXPORT_TIMEOUT_MS = 10_000;
/**
 * Incident records kept while the collector is unreachable, retried on every tick. An
 * incident is a few hundred bytes; 256 is hours of a bad day, and the bound holds when a
 * collector stays down for good.
 */
export const MAX_PENDING_LOG_RECORDS = 256;
/** Bytes of an error response quoted in the warning. */
const ERROR_BODY_BYTES = 200;

export class ExportConfigError extends Error {}

export interface SignalConfig {
  url: string;
  protocol: OtlpProtocol;
  headers: Record<string, string>;
  timeoutMs: number;
  gzip: boolean;
  tls: { ca?: Buffer; cert?: Buffer; key?: Buffer };
}

/** `http://host:4318` → `http://host:4318/v1/metrics`; a URL that already names a signal path gets this signal's. */
export function signalUrl(endpoint: string, signal: PushSignal): string {
  const u = endpoint.replace(/\/+$/, "");
  if (/\/v1\/(metrics|logs|traces)$/.test(u)) return u.replace(/\/v1\/(metrics|logs|traces)$/, `/v1/${signal}`);
  return `${u}/v1/${signal}`;
}

/** `k1=v1,k2=v2` with URL-encoded values (the W3C Baggage form the specification uses). */
export function parseOtlpHeaders(raw: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (raw ?? "").split(",")) {
    const i = part.indexOf("=");
    if (i <= 0) continue;
    const key = part.slice(0, i).trim();
    let value = part.slice(i + 1).trim();
    try {
      value = decodeURIComponent(value);
    } catch {
      /* kept as written */
    }
    if (key) out[key.toLowerCase()] = value;
  }
  return out;
}

function protocolOf(raw: string | undefined, from: string): OtlpProtocol | undefined {
  if (raw === undefined || raw === "") return undefined;
  if ((OTLP_PROTOCOLS as readonly string[]).includes(raw)) return raw as OtlpProtocol;
  throw new ExportConfigError(`invalid ${from}: ${raw} (http/protobuf or http/json; grpc is not supported)`);
}

/**
 * Per-signal settings, as the specification orders them: the command line first
 * (`--otlp-endpoint`, `--otlp-protocol`), then `OTEL_EXPORTER_OTLP_<SIGNAL>_*`, then
 * `OTEL_EXPORTER_OTLP_*`. A signal-specific endpoint variable is used as is.
 */
export function resolveExportConfig(signal: PushSignal, flags: { endpoint: string; protocol?: OtlpProtocol }, env: NodeJS.ProcessEnv): SignalConfig {
  const S = signal.toUpperCase();
  const pick = (name: string) => env[`OTEL_EXPORTER_OTLP_${S}_${name}`] ?? env[`OTEL_EXPORTER_OTLP_${name}`];
  const specific = env[`OTEL_EXPORTER_OTLP_${S}_ENDPOINT`];
  const url = specific || signalUrl(flags.endpoint, signal);
  const protocol = flags.protocol ?? protocolOf(env[`OTEL_EXPORTER_OTLP_${S}_PROTOCOL`], `OTEL_EXPORTER_OTLP_${S}_PROTOCOL`) ?? protocolOf(env.OTEL_EXPORTER_OTLP_PROTOCOL, "OTEL_EXPORTER_OTLP_PROTOCOL") ?? "http/protobuf";
  const headers = { ...parseOtlpHeaders(env.OTEL_EXPORTER_OTLP_HEADERS), ...parseOtlpHeaders(env[`OTEL_EXPORTER_OTLP_${S}_HEADERS`]) };
  const rawTimeout = pick("TIMEOUT");
  const timeoutMs = rawTimeout !== undefined && rawTimeout !== "" ? Number(rawTimeout) : DEFAULT_EXPORT_TIMEOUT_MS;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new ExportConfigError(`invalid OTEL_EXPORTER_OTLP_TIMEOUT: ${rawTimeout} (milliseconds)`);
  const compression = (pick("COMPRESSION") ?? "none").toLowerCase();
  if (compression !== "gzip" && compression !== "none" && compression !== "") throw new ExportConfigError(`invalid OTEL_EXPORTER_OTLP_COMPRESSION: ${compression} (gzip or none)`);
  const file = (name: string): Buffer | undefined => {
    const path = pick(name);
    if (!path) return undefined;
    try {
      return readFileSync(path);
    } catch (err) {
      throw new ExportConfigError(`cannot read OTEL_EXPORTER_OTLP_${name} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  };
  if (!/^https?:\/\/[^/]+/.test(url)) throw new ExportConfigError(`invalid OTLP ${signal} endpoint: ${url} (an http:// or https:// URL)`);
  return { url, protocol, headers, timeoutMs, gzip: compression === "gzip", tls: { ca: file("CERTIFICATE"), cert: file("CLIENT_CERTIFICATE"), key: file("CLIENT_KEY") } };
}

const require = createRequire(import.meta.url);
let version: string | undefined;
function ownVersion(): string {
  try {
    version ??= (require("../../../package.json") as { version: string }).version;
  } catch {
    version = "0";
  }
  return version;
}

function kv(a: Attrs): KeyValue[] {
  return Object.entries(a).map(([key, v]) => ({ key, value: typeof v === "number" && Number.isInteger(v) ? { intValue: String(v) } : typeof v === "number" ? { doubleValue: v } : { stringValue: v } }));
}
const nanos = (ms: number) => (BigInt(Math.round(ms)) * 1_000_000n).toString();

/** A collection as an ExportMetricsServiceRequest in the OTLP/JSON mapping. */
export function metricsRequest(c: Collection): object {
  const time = nanos(c.at);
  const metrics = c.families.map((f) => {
    const i = f.instrument;
    const base = { name: i.name, description: i.description, unit: i.unit };
    if (i.kind === "histogram") {
      const dataPoints = (f.points as HistogramPoint[]).map((p) => ({
        attributes: kv(p.attrs),
        startTimeUnixNano: nanos(p.start),
        timeUnixNano: time,
        count: String(p.count),
        sum: p.sum,
        bucketCounts: p.counts.map(String),
        explicitBounds: [...(i.buckets ?? [])],
      }));
      return { ...base, histogram: { dataPoints, aggregationTemporality: 2 } };
    }
    const dataPoints = (f.points as NumberPoint[]).map((p) => ({ attributes: kv(p.attrs), startTimeUnixNano: nanos(p.start), timeUnixNano: time, asDouble: p.value }));
    if (i.kind === "gauge") return { ...base, gauge: { dataPoints } };
    return { ...base, sum: { dataPoints, aggregationTemporality: 2, isMonotonic: i.kind === "counter" } };
  });
  return { resourceMetrics: [{ resource: { attributes: kv(c.resource) }, scopeMetrics: [{ scope: { name: "opensre-agents", version: ownVersion() }, metrics }] }] };
}

/** One incident open/resolve as an OTLP log record (JSON mapping). */
export function incidentRecord(e: WatchdogEvent, now = Date.now()): object {
  const i = e.incident;
  return {
    timeUnixNano: nanos(now),
    observedTimeUnixNano: nanos(now),
    severityNumber: e.kind === "open" ? 13 : 9, // WARN / INFO
    severityText: e.kind === "open" ? "WARN" : "INFO",
    eventName: `opensre.incident.${e.kind}`,
    body: { stringValue: describeIncident(e) },
    attributes: kv({ "event.name": `opensre.incident.${e.kind}`, "opensre.incident.id": i.id, "opensre.incident.slo": i.slo, "opensre.incident.detail": i.detail, "opensre.agent.name": i.agent, "process.pid": i.pid }),
  };
}

export type PushOutcome = { ok: true } | { ok: false; retryable: boolean; reason: string };

/** POST one body; resolves with the outcome, never rejects. */
export function postOtlp(cfg: SignalConfig, signal: PushSignal, payload: object): Promise<PushOutcome> {
  let body: Buffer;
  try {
    body = cfg.protocol === "http/json" ? Buffer.from(JSON.stringify(payload)) : Buffer.from(encodeOtlp(signal, payload));
  } catch (err) {
    return Promise.resolve({ ok: false, retryable: false, reason: `cannot encode: ${(err as Error).message}` });
  }
  if (cfg.gzip) body = gzipSync(body);
  const headers: Record<string, string | number> = {
    "user-agent": `opensre-agents/${ownVersion()}`,
    ...cfg.headers,
    "content-type": cfg.protocol === "http/json" ? "application/json" : "application/x-protobuf",
    "content-length": body.length,
    ...(cfg.gzip ? { "content-encoding": "gzip" } : {}),
  };
  return new Promise((resolve) => {
    let done = false;
    const finish = (o: PushOutcome) => {
      if (!done) {
        done = true;
        resolve(o);
      }
    };
    const url = new URL(cfg.url);
    const send = url.protocol === "https:" ? httpsRequest : httpRequest;
    const req = send(url, { method: "POST", headers, timeout: cfg.timeoutMs, ...(url.protocol === "https:" ? cfg.tls : {}) }, (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let n = 0;
      res.on("data", (c: Buffer) => {
        if (n < ERROR_BODY_BYTES) chunks.push(c);
        n += c.length;
      });
      res.on("end", () => {
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) return finish({ ok: true });
        let text = Buffer.concat(chunks).subarray(0, ERROR_BODY_BYTES).toString("utf8").replace(/\s+/g, " ").trim();
        if (/x-protobuf/.test(String(res.headers["content-type"] ?? ""))) text = ""; // a google.rpc.Status: not text
        finish({ ok: false, retryable: [429, 502, 503, 504].includes(status), reason: `HTTP ${status}${res.statusMessage ? ` ${res.statusMessage}` : ""}${text ? `: ${text}` : ""}` });
      });
      res.on("error", (err) => finish({ ok: false, retryable: true, reason: err.message }));
    });
    req.on("timeout", () => {
      req.destroy();
      finish({ ok: false, retryable: true, reason: `no answer within ${cfg.timeoutMs} ms` });
    });
    req.on("error", (err: NodeJS.ErrnoException) => finish({ ok: false, retryable: true, reason: err.code ?? err.message }));
    req.end(body);
  });
}

export interface PushReport {
  signal: PushSignal;
  url: string;
  /** null: works again. */
  failure: string | null;
}

/**
 * Pushes collections and incident records. One push per signal at a time (a tick that
 * finds the previous push still running skips; the next collection carries the same
 * cumulative values). `onReport` is called when a signal's state changes: first failure,
 * another failure reason, recovery.
 */
export class OtlpPush {
  readonly requests = new Map<string, number>();
  readonly failing: Record<PushSignal, boolean> = { metrics: false, logs: false };
  private readonly state: Record<PushSignal, string | null> = { metrics: null, logs: null };
  private readonly busy: Record<PushSignal, Promise<void> | null> = { metrics: null, logs: null };
  private pending: object[] = [];
  /** Incident records dropped: refused for good by the collector, or over MAX_PENDING_LOG_RECORDS. */
  dropped = 0;

  constructor(
    readonly config: Record<PushSignal, SignalConfig>,
    private readonly onReport: (r: PushReport) => void,
  ) {}

  private count(signal: PushSignal, ok: boolean): void {
    const k = `${signal} ${ok ? "ok" : "failed"}`;
    this.requests.set(k, (this.requests.get(k) ?? 0) + 1);
  }

  private settle(signal: PushSignal, o: PushOutcome): void {
    this.count(signal, o.ok);
    const next = o.ok ? null : o.reason;
    this.failing[signal] = !o.ok;
    if (next !== this.state[signal]) {
      this.state[signal] = next;
      this.onReport({ signal, url: this.config[signal].url, failure: next });
    }
  }

  /** Push one collection (skipped while the previous metrics push is in flight). */
  pushMetrics(c: Collection): Promise<void> {
    if (this.busy.metrics) return this.busy.metrics;
    const p = postOtlp(this.config.metrics, "metrics", metricsRequest(c)).then((o) => this.settle("metrics", o));
    this.busy.metrics = p.finally(() => (this.busy.metrics = null));
    return this.busy.metrics;
  }

  incident(e: WatchdogEvent): Promise<void> {
    this.pending.push(incidentRecord(e));
    if (this.pending.length > MAX_PENDING_LOG_RECORDS) this.dropped += this.pending.splice(0, this.pending.length - MAX_PENDING_LOG_RECORDS).length;
    return this.flushLogs();
  }

  /** Send the pending incident records (also retried on every tick while the collector fails). */
  flushLogs(): Promise<void> {
    if (this.busy.logs) return this.busy.logs;
    if (!this.pending.length) return Promise.resolve();
    const batch = this.pending;
    this.pending = [];
    const payload = { resourceLogs: [{ resource: { attributes: kv({ "service.name": "opensre-agents" }) }, scopeLogs: [{ scope: { name: "opensre-agents", version: ownVersion() }, logRecords: batch }] }] };
    const p = postOtlp(this.config.logs, "logs", payload).then((o) => {
      this.settle("logs", o);
      if (!o.ok && o.retryable) this.pending = [...batch, ...this.pending].slice(-MAX_PENDING_LOG_RECORDS);
      else if (!o.ok) this.dropped += batch.length;
    });
    this.busy.logs = p.finally(() => (this.busy.logs = null));
    return this.busy.logs;
  }

  stats(): { requests: ReadonlyMap<string, number>; failing: Readonly<Record<string, boolean>> } {
    return { requests: this.requests, failing: this.failing };
  }

  async close(last?: Collection): Promise<void> {
    await Promise.allSettled([this.busy.metrics, this.busy.logs]);
    await Promise.allSettled([last ? this.pushMetrics(last) : Promise.resolve(), this.flushLogs()]);
  }
}
