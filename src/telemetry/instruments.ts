/**
 * The one metric model: every instrument opensre exports, named and typed as in
 * OpenTelemetry (semantic conventions where they define one: `gen_ai.*`, `process.*`),
 * exported unchanged over OTLP and under the standard OpenTelemetry → Prometheus
 * translation on `/metrics`. An instrument is added here once and reaches both paths.
 */
export type InstrumentKind = "gauge" | "counter" | "updowncounter" | "histogram";

export interface Instrument {
  name: string;
  kind: InstrumentKind;
  /** UCUM unit (`s`, `By`, `1`, `USD`) or an annotation (`{token}`), as OpenTelemetry writes it. */
  unit: string;
  description: string;
  /** Histogram bucket upper bounds. */
  buckets?: readonly number[];
}

/** gen_ai.client.operation.duration: the semantic conventions' recommended bucket bounds, seconds. */
export const DURATION_BUCKETS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92] as const;

const def = (name: string, kind: InstrumentKind, unit: string, description: string, buckets?: readonly number[]): Instrument => ({ name, kind, unit, description, ...(buckets ? { buckets } : {}) });

/** Attributes every per-agent point carries (the series identity; never changes during the agent's life). */
export const AGENT_ATTRS = ["opensre.agent.name", "opensre.agent.provider", "process.pid"] as const;

export const I = {
  // per agent: process (semantic conventions' process.* metrics, the agent's process tree)
  agentUp: def("opensre.agent.up", "gauge", "", "1 for every agent process alive at the last refresh"),
  agentInfo: def("opensre.agent.info", "gauge", "", "1 per agent, with the model it uses (gen_ai.request.model) and the model vendor"),
  agentStatus: def("opensre.agent.status", "gauge", "", "1 for the agent's current status (opensre.agent.status), 0 for the others"),
  uptime: def("process.uptime", "gauge", "s", "Seconds since the agent process started"),
  cpu: def("process.cpu.utilization", "gauge", "1", "CPU time per wall-clock time of the agent's process tree (1 = one core)"),
  memory: def("process.memory.usage", "updowncounter", "By", "Resident memory of the agent's process tree"),
  children: def("opensre.agent.child_processes", "gauge", "{process}", "Child processes of the agent"),
  lastOutput: def("opensre.agent.last_output.timestamp", "gauge", "s", "Unix time of the agent's last output (transcript event or stdout growth; its start while it has written nothing), as the progress SLO sees it"),
  incidents: def("opensre.agent.open_incidents", "gauge", "{incident}", "Open SLO incidents of the agent"),
  // per agent: model use, cumulative since opensre first saw the agent
  tokens: def("opensre.agent.token.usage", "counter", "{token}", "Model tokens since opensre first saw the agent, by gen_ai.token.type (input, output, cache_read, cache_creation)"),
  cost: def("opensre.agent.cost", "counter", "USD", "Model spend since opensre first saw the agent, US dollars"),
  requests: def("opensre.agent.requests", "counter", "{request}", "Model requests (successful or not) since opensre first saw the agent"),
  errors: def("opensre.agent.errors", "counter", "{error}", "Model API errors since opensre first saw the agent"),
  duration: def("gen_ai.client.operation.duration", "histogram", "s", "Model request duration reported by the agent's OpenTelemetry events", DURATION_BUCKETS),
  // the fleet and opensre itself
  agents: def("opensre.agents", "gauge", "{agent}", "Agents in the fleet at the last refresh"),
  refresh: def("opensre.refresh.duration", "gauge", "s", "Duration of the last fleet refresh"),
  selfCpu: def("opensre.process.cpu.time", "counter", "s", "CPU time of this opensre process, by cpu.mode"),
  selfMemory: def("opensre.process.memory.usage", "updowncounter", "By", "Resident memory of this opensre process"),
  selfFds: def("opensre.process.open_file_descriptors", "updowncounter", "{file_descriptor}", "Open file descriptors of this opensre process"),
  selfUptime: def("opensre.process.uptime", "gauge", "s", "Seconds since this opensre process started"),
  // OTLP in
  telemetryRequests: def("opensre.telemetry.requests", "counter", "{request}", "OTLP requests received, by signal and result (accepted, or the reason of the refusal)"),
  telemetryRecords: def("opensre.telemetry.records", "counter", "{record}", "OTLP log records received, by result (used, ignored, bad_timestamp, foreign_pid)"),
  telemetryConnections: def("opensre.telemetry.connections", "updowncounter", "{connection}", "Open connections to the OTLP receiver"),
  spoolFiles: def("opensre.telemetry.spool.files", "updowncounter", "{file}", "Session files in the telemetry spool"),
  spoolSize: def("opensre.telemetry.spool.size", "updowncounter", "By", "Bytes in the telemetry spool"),
  spoolEvicted: def("opensre.telemetry.spool.evicted", "counter", "{file}", "Spool files removed to keep the spool within its bounds, by reason (files, bytes, age)"),
  // OTLP out
  exportRequests: def("opensre.export.requests", "counter", "{request}", "OTLP pushes to --otlp-endpoint, by signal and result (ok, failed)"),
  exportFailing: def("opensre.export.failing", "gauge", "", "1 while pushes of this signal to --otlp-endpoint fail"),
  // the bus hosted by this process
  busSubscribers: def("opensre.bus.subscribers", "updowncounter", "{subscriber}", "Subscribers of the bus broker hosted by this process (absent when another process hosts it)"),
  busFrames: def("opensre.bus.frames", "counter", "{frame}", "Frames the bus broker hosted by this process has broadcast"),
  busDropped: def("opensre.bus.dropped_frames", "counter", "{frame}", "Frames the bus broker hosted by this process dropped (slow subscribers, oversized frames)"),
} as const;

export const INSTRUMENTS: readonly Instrument[] = Object.values(I);

// --- the standard OpenTelemetry → Prometheus translation (specification "Prometheus and
// OpenMetrics Compatibility", as Prometheus' own OTLP receiver applies it: underscore
// escaping with unit and type suffixes) ---

const UNIT_WORDS: Record<string, string> = {
  d: "days", h: "hours", min: "minutes", s: "seconds", ms: "milliseconds", us: "microseconds", ns: "nanoseconds",
  By: "bytes", KiBy: "kibibytes", MiBy: "mebibytes", GiBy: "gibibytes", TiBy: "tibibytes", KBy: "kilobytes", MBy: "megabytes", GBy: "gigabytes", TBy: "terabytes",
  m: "meters", V: "volts", A: "amperes", J: "joules", W: "watts", g: "grams", Cel: "celsius", Hz: "hertz", "%": "percent",
};
const PER_UNIT_WORDS: Record<string, string> = { s: "second", m: "minute", h: "hour", d: "day", w: "week", mo: "month", y: "year" };

function unitWord(u: string, words: Record<string, string>): string {
  const clean = u.replace(/\{[^}]*\}/g, "").trim();
  if (!clean) return "";
  return words[clean] ?? clean.replace(/[^a-zA-Z0-9]+/g, "_").replace(/^_+|_+$/g, "");
}

/** The Prometheus metric name of an instrument: `gen_ai.client.operation.duration` (s) → `gen_ai_client_operation_duration_seconds`. */
export function prometheusName(i: Pick<Instrument, "name" | "unit" | "kind">): string {
  const tokens = i.name.split(/[^a-zA-Z0-9]+/).filter(Boolean);
  const [main = "", per = ""] = i.unit.split("/", 2);
  const m = main === "1" ? "" : unitWord(main, UNIT_WORDS);
  if (m && !tokens.includes(m)) tokens.push(m);
  const p = unitWord(per, PER_UNIT_WORDS);
  if (p && !(tokens.includes("per") && tokens.includes(p))) tokens.push("per", p);
  if (i.kind === "counter") {
    const at = tokens.indexOf("total");
    if (at >= 0) tokens.splice(at, 1);
    tokens.push("total");
  }
  if (i.kind === "gauge" && i.unit === "1" && !tokens.includes("ratio")) tokens.push("ratio");
  const name = tokens.join("_");
  return /^[0-9]/.test(name) ? `_${name}` : name;
}

const labelNames = new Map<string, string>();

/** The Prometheus label name of an attribute key: `process.pid` → `process_pid`. */
export function prometheusLabel(key: string): string {
  let out = labelNames.get(key);
  if (out === undefined) {
    const s = key.replace(/[^a-zA-Z0-9_]/g, "_");
    out = /^[0-9]/.test(s) ? `key_${s}` : s;
    if (labelNames.size < 1024) labelNames.set(key, out); // attribute keys are a fixed vocabulary
  }
  return out;
}

/** The Prometheus metric type of an instrument. */
export function prometheusType(kind: InstrumentKind): "gauge" | "counter" | "histogram" {
  return kind === "counter" ? "counter" : kind === "histogram" ? "histogram" : "gauge";
}
