import { LATENCY_BUCKETS, USAGE_COUNTERS } from "./schema.js";
import { histogramPercentile, sessionLabel } from "./report.js";
import { MINUTE_RETENTION_DAYS } from "./retention.js";
import { COUNTER_INDEX as C, HOUR_MS, MINUTE_MS, newCounters, TURN_MAX, TURN_MIN, type Counters, type HistoryStore } from "./store.js";

/**
 * Time series from the history store, for charts (the local web page): one metric per agent
 * over a range, downsampled to at most `maxPoints` points. Minute rows while the range is
 * within the minute retention, else hour rows; the step is a whole number of those.
 */
export const SERIES_METRICS = [
  "requests",
  "errors",
  "error_pct",
  "tokens",
  "input",
  "output",
  "cache_read",
  "cache_write",
  "usd",
  "turns",
  "latency_p50_ms",
  "latency_p95_ms",
  "cpu_pct",
  "rss_bytes",
] as const;
export type SeriesMetric = (typeof SERIES_METRICS)[number];

/** Points per series when the caller names no limit: a chart's width in pixels, roughly. */
export const DEFAULT_MAX_POINTS = 500;

export interface SeriesQuery {
  metric: SeriesMetric;
  /** ms since epoch, inclusive / exclusive. */
  from: number;
  to: number;
  /** Only this agent (its report name), or only this provider's sessions. */
  agent?: string;
  provider?: string;
  maxPoints?: number;
  /** Clock for choosing minute or hour rows (default Date.now). */
  now?: number;
}

export interface SeriesPoint {
  /** Start of the step, ms since epoch. */
  t: number;
  /** null where the metric has no value (no turns for a latency, no samples for cpu). */
  value: number | null;
}

export interface Series {
  /** The agent (report name) the series is for. */
  key: string;
  points: SeriesPoint[];
}

export interface SeriesResult {
  stepMs: number;
  resolution: "minute" | "hour";
  series: Series[];
}

function value(metric: SeriesMetric, c: Counters): number | null {
  switch (metric) {
    case "requests":
      return c[C.requests]!;
    case "errors":
      return c[C.errors]!;
    case "error_pct": {
      const n = c[C.requests]! + c[C.errors]!;
      return n ? (100 * c[C.errors]!) / n : null;
    }
    case "tokens":
      return c[C.input]! + c[C.output]! + c[C.cache_write_5m]! + c[C.cache_write_1h]! + c[C.cache_read]!;
    case "input":
      return c[C.input]!;
    case "output":
      return c[C.output]!;
    case "cache_read":
      return c[C.cache_read]!;
    case "cache_write":
      return c[C.cache_write_5m]! + c[C.cache_write_1h]!;
    case "usd":
      return c[C.usd]!;
    case "turns":
      return c[C.turns]!;
    case "latency_p50_ms":
    case "latency_p95_ms":
      return histogramPercentile(c.subarray(C.lat0, C.lat0 + LATENCY_BUCKETS), metric === "latency_p50_ms" ? 50 : 95, c[TURN_MIN], c[TURN_MAX]);
    default:
      return null;
  }
}

export function querySeries(store: HistoryStore, q: SeriesQuery): SeriesResult {
  const now = q.now ?? Date.now();
  const resolution: SeriesResult["resolution"] = q.from >= now - MINUTE_RETENTION_DAYS * 24 * HOUR_MS ? "minute" : "hour";
  const unit = resolution === "minute" ? MINUTE_MS : HOUR_MS;
  const maxPoints = Math.max(1, q.maxPoints ?? DEFAULT_MAX_POINTS);
  const stepMs = Math.max(1, Math.ceil((q.to - q.from) / maxPoints / unit)) * unit;
  const start = Math.floor(q.from / stepMs) * stepMs;
  const steps = Math.max(1, Math.ceil((q.to - start) / stepMs));
  const lo = Math.floor(start / unit);
  const hi = Math.ceil(q.to / unit);
  return store.read(() => {
    const labels = new Map<number, string>();
    for (const s of store.db.prepare<[], { id: number; provider: string; key: string; session_id: string | null; cwd: string | null; agent: string | null }>("SELECT id, provider, key, session_id, cwd, agent FROM sessions").all()) {
      if (q.provider !== undefined && s.provider !== q.provider) continue;
      const label = sessionLabel(s);
      if (q.agent !== undefined && label !== q.agent) continue;
      labels.set(s.id, label);
    }
    const acc = new Map<string, Counters[] | Array<{ cpu: number; cpuN: number; rss: number | null }>>();
    const proc = q.metric === "cpu_pct" || q.metric === "rss_bytes";
    if (proc) {
      const rows = store.db
        .prepare<[number, number], { session: number; t: number; cpu: number; cpuN: number; rss: number | null }>(
          `SELECT session, t, cpu_pct_sum AS cpu, cpu_samples AS cpuN, rss_max AS rss FROM ${resolution === "minute" ? "proc_minute" : "proc_hour"} WHERE t >= ? AND t < ?`,
        )
        .all(lo, hi);
      for (const r of rows) {
        const label = labels.get(r.session);
        if (label === undefined) continue;
        const i = Math.floor((r.t * unit - start) / stepMs);
        if (i < 0 || i >= steps) continue;
        let a = acc.get(label) as Array<{ cpu: number; cpuN: number; rss: number | null }> | undefined;
        if (!a) acc.set(label, (a = Array.from({ length: steps }, () => ({ cpu: 0, cpuN: 0, rss: null }))));
        a[i]!.cpu += r.cpu;
        a[i]!.cpuN += r.cpuN;
        if (r.rss !== null) a[i]!.rss = Math.max(a[i]!.rss ?? 0, r.rss);
      }
      const series = [...acc].map(([key, a]) => ({
        key,
        points: (a as Array<{ cpu: number; cpuN: number; rss: number | null }>).map((p, i) => ({ t: start + i * stepMs, value: q.metric === "cpu_pct" ? (p.cpuN ? p.cpu / p.cpuN : null) : p.rss })),
      }));
      return { stepMs, resolution, series: series.sort((a, b) => a.key.localeCompare(b.key)) };
    }
    const cols = [...USAGE_COUNTERS, "turn_ms_min", "turn_ms_max"].join(", ");
    const rows = store.db.prepare<[number, number], unknown[]>(`SELECT session, t, ${cols} FROM ${resolution === "minute" ? "usage_minute" : "usage_hour"} WHERE t >= ? AND t < ?`).raw(true);
    for (const r of rows.iterate(lo, hi)) {
      const label = labels.get(r[0] as number);
      if (label === undefined) continue;
      const i = Math.floor(((r[1] as number) * unit - start) / stepMs);
      if (i < 0 || i >= steps) continue;
      let a = acc.get(label) as Counters[] | undefined;
      if (!a) acc.set(label, (a = Array.from({ length: steps }, () => newCounters())));
      const c = a[i]!;
      for (let k = 0; k < USAGE_COUNTERS.length; k++) c[k]! += r[k + 2] as number;
      const mn = r[TURN_MIN + 2] as number | null;
      const mx = r[TURN_MAX + 2] as number | null;
      if (mn !== null) c[TURN_MIN] = Math.min(c[TURN_MIN]!, mn);
      if (mx !== null) c[TURN_MAX] = Math.max(c[TURN_MAX]!, mx);
    }
    const series = [...acc].map(([key, a]) => ({ key, points: (a as Counters[]).map((c, i) => ({ t: start + i * stepMs, value: value(q.metric, c) })) }));
    return { stepMs, resolution, series: series.sort((a, b) => a.key.localeCompare(b.key)) };
  });
}
