import { basename, dirname } from "node:path";
import { tildify } from "../util/home.js";
import { LATENCY_BUCKETS, latencyBound, USAGE_COUNTERS } from "./schema.js";
import { COUNTER_INDEX as C, HOUR_MS, MINUTE_MS, newCounters, TURN_MAX, TURN_MIN, type Counters, type HistoryStore } from "./store.js";
import { MINUTE_RETENTION_DAYS } from "./retention.js";
import { objectiveSli, objectiveStatus, type ObjectiveScope } from "./objectives.js";
import { describeObjective, windowLabel, type Objective, type ObjectiveKind } from "../slo/objectives.js";

/** What a report groups by. */
export const GROUP_BY = ["agent", "provider", "project", "model", "session", "day", "week", "month"] as const;
export type GroupBy = (typeof GROUP_BY)[number];

export interface ReportQuery {
  by: GroupBy;
  /** ms since epoch, inclusive; null = from the first record. */
  since: number | null;
  /** ms since epoch, exclusive; null = now. */
  until: number | null;
  now: number;
}

export interface IncidentFigures {
  count: number;
  /** Mean time from open to acknowledgement, ms, over the acknowledged ones; null when none. */
  mttaMs: number | null;
  /** Mean time from open to resolution, ms, over the resolved ones; null when none. */
  mttrMs: number | null;
}

export interface ReportRow {
  key: string;
  sessions: number;
  requests: number;
  errors: number;
  /** API errors over requests + errors, percent; null with neither. */
  errorPct: number | null;
  tokens: { input: number; output: number; reasoning: number; cacheWrite5m: number; cacheWrite1h: number; cacheRead: number; total: number };
  usd: number;
  /** Requests no price covered (their tokens are counted, their cost is not). */
  unpricedRequests: number;
  turns: number;
  /** Turn latency percentiles, ms (from the bucket histogram), null without turns. */
  latencyP50Ms: number | null;
  latencyP95Ms: number | null;
  /** Incidents opened in the range; null when incidents cannot be attributed to this grouping (project, model, session). */
  incidents: IncidentFigures | null;
  /** Providers of the sessions in this group. */
  providers: string[];
  /** The group's sessions were seen running as a named agent (not only `<provider> session <id>`). */
  named: boolean;
  /** The group's windowed objectives (agents.yaml), when it has any: attainment over the range, budget left at its end. */
  objectives?: ObjectiveFigures[];
}

export interface ObjectiveFigures {
  kind: ObjectiveKind;
  objective: string;
  targetPct: number;
  window: string;
  /** Good share over the report's range, percent; null with no events. */
  attainmentPct: number | null;
  met: boolean | null;
  /** Error budget left over the objective's window ending at the report's end, percent. */
  budgetRemainingPct: number | null;
}

export interface Report {
  by: GroupBy;
  from: number | null;
  to: number;
  /** Resolution the figures were read at: minutes within the minute retention, else hours (edges rounded to the hour). */
  resolution: "minute" | "hour";
  rows: ReportRow[];
  total: ReportRow;
}

interface SessionRow {
  id: number;
  provider: string;
  key: string;
  session_id: string | null;
  cwd: string | null;
  agent: string | null;
}

/** The name of a session in reports: the agent it ran as when seen live, else `<provider> session <id8>`. */
export function sessionLabel(s: { provider: string; key: string; session_id: string | null; cwd: string | null; agent: string | null }): string {
  if (s.agent) return s.agent;
  // a session without an id of its own (Aider's history file) is named after its directory
  const id = s.session_id ? s.session_id.slice(0, 8) : basename(s.cwd ?? dirname(s.key));
  return `${s.provider} session ${id}`;
}

function pad(n: number): string {
  return String(n).padStart(2, "0");
}

/** Local calendar keys (the machine's time zone, `TZ`), as people read reports. */
export function dayKey(t: number): string {
  const d = new Date(t);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

export function monthKey(t: number): string {
  const d = new Date(t);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}`;
}

/** ISO 8601 week of the local date, `2026-W47` (weeks start on Monday; week 1 holds the year's first Thursday). */
export function weekKey(t: number): string {
  const local = new Date(t);
  const d = new Date(Date.UTC(local.getFullYear(), local.getMonth(), local.getDate()));
  d.setUTCDate(d.getUTCDate() + 4 - (d.getUTCDay() || 7)); // the Thursday of its week
  const week = Math.ceil(((d.getTime() - Date.UTC(d.getUTCFullYear(), 0, 1)) / (24 * HOUR_MS) + 1) / 7);
  return `${d.getUTCFullYear()}-W${pad(week)}`;
}

/**
 * A percentile from a latency histogram (counts per bucket), interpolated within its bucket
 * and kept within the shortest and longest turn when known.
 */
export function histogramPercentile(hist: ArrayLike<number>, p: number, min = -Infinity, max = Infinity): number | null {
  const v = bucketPercentile(hist, p);
  return v === null ? null : Math.min(max, Math.max(min, v));
}

function bucketPercentile(hist: ArrayLike<number>, p: number): number | null {
  let total = 0;
  for (let i = 0; i < LATENCY_BUCKETS; i++) total += hist[i]!;
  if (total === 0) return null;
  const rank = (p / 100) * total;
  let seen = 0;
  for (let i = 0; i < LATENCY_BUCKETS; i++) {
    const n = hist[i]!;
    if (n === 0) continue;
    if (seen + n >= rank) {
      const lo = i === 0 ? 0 : latencyBound(i - 1);
      const hi = latencyBound(i);
      if (!Number.isFinite(hi)) return lo; // the open-ended last bucket: its lower bound
      return lo + ((hi - lo) * (rank - seen)) / n;
    }
    seen += n;
  }
  return latencyBound(LATENCY_BUCKETS - 2);
}

interface Acc {
  c: Counters;
  sessions: Set<number>;
  providers: Set<string>;
  named?: boolean;
}

function figures(key: string, a: Acc, incidents: IncidentFigures | null): ReportRow {
  const c = a.c;
  const requests = c[C.requests]!;
  const errors = c[C.errors]!;
  const hist = c.subarray(C.lat0, C.lat0 + LATENCY_BUCKETS);
  const tokens = {
    input: c[C.input]!,
    output: c[C.output]!,
    reasoning: c[C.reasoning]!,
    cacheWrite5m: c[C.cache_write_5m]!,
    cacheWrite1h: c[C.cache_write_1h]!,
    cacheRead: c[C.cache_read]!,
    total: 0,
  };
  tokens.total = tokens.input + tokens.output + tokens.cacheWrite5m + tokens.cacheWrite1h + tokens.cacheRead;
  return {
    key,
    sessions: a.sessions.size,
    requests,
    errors,
    errorPct: requests + errors > 0 ? (100 * errors) / (requests + errors) : null,
    tokens,
    usd: c[C.usd]!,
    unpricedRequests: c[C.unpriced]!,
    turns: c[C.turns]!,
    latencyP50Ms: histogramPercentile(hist, 50, c[TURN_MIN], c[TURN_MAX]),
    latencyP95Ms: histogramPercentile(hist, 95, c[TURN_MIN], c[TURN_MAX]),
    incidents,
    providers: [...a.providers].sort(),
    named: a.named ?? false,
  };
}

/** Read a usage report from the store. */
export function buildReport(store: HistoryStore, q: ReportQuery): Report {
  const to = q.until ?? q.now;
  const minuteFloor = q.now - MINUTE_RETENTION_DAYS * 24 * HOUR_MS;
  const resolution: Report["resolution"] = q.since !== null && q.since >= minuteFloor ? "minute" : "hour";
  const unit = resolution === "minute" ? MINUTE_MS : HOUR_MS;
  const table = resolution === "minute" ? "usage_minute" : "usage_hour";
  const lo = q.since === null ? -Number.MAX_SAFE_INTEGER : Math.floor(q.since / unit);
  const hi = Math.ceil(to / unit); // exclusive
  return store.read(() => {
    const sessions = new Map<number, SessionRow>();
    for (const s of store.db.prepare<[], SessionRow>("SELECT id, provider, key, session_id, cwd, agent FROM sessions").all()) sessions.set(s.id, s);
    const models = new Map<number, string>();
    for (const m of store.db.prepare<[], { id: number; name: string }>("SELECT id, name FROM models").all()) models.set(m.id, m.name);
    const keyOf = (session: number, model: number, t: number): string => {
      const s = sessions.get(session);
      switch (q.by) {
        case "agent":
          return s ? sessionLabel(s) : "-";
        case "provider":
          return s?.provider ?? "-";
        case "project":
          return s?.cwd ? tildify(s.cwd) : "-";
        case "model":
          return models.get(model) || "-";
        case "session":
          return s ? `${sessionLabel(s)} (${s.session_id ?? s.key})` : "-";
        case "day":
          return dayKey(t * unit);
        case "week":
          return weekKey(t * unit);
        case "month":
          return monthKey(t * unit);
      }
    };
    const groups = new Map<string, Acc>();
    const total: Acc = { c: newCounters(), sessions: new Set(), providers: new Set() };
    const cols = [...USAGE_COUNTERS, "turn_ms_min", "turn_ms_max"].join(", ");
    const rows = store.db.prepare<[number, number], unknown[]>(`SELECT session, model, t, ${cols} FROM ${table} WHERE t >= ? AND t < ?`).raw(true);
    for (const r of rows.iterate(lo, hi)) {
      const session = r[0] as number;
      const key = keyOf(session, r[1] as number, r[2] as number);
      let g = groups.get(key);
      if (!g) groups.set(key, (g = { c: newCounters(), sessions: new Set(), providers: new Set() }));
      for (let i = 0; i < USAGE_COUNTERS.length; i++) {
        const v = r[i + 3] as number;
        g.c[i]! += v;
        total.c[i]! += v;
      }
      const lo = r[TURN_MIN + 3] as number | null;
      const hi = r[TURN_MAX + 3] as number | null;
      if (lo !== null) {
        g.c[TURN_MIN] = Math.min(g.c[TURN_MIN]!, lo);
        total.c[TURN_MIN] = Math.min(total.c[TURN_MIN]!, lo);
      }
      if (hi !== null) {
        g.c[TURN_MAX] = Math.max(g.c[TURN_MAX]!, hi);
        total.c[TURN_MAX] = Math.max(total.c[TURN_MAX]!, hi);
      }
      g.sessions.add(session);
      total.sessions.add(session);
      if (sessions.get(session)?.agent) g.named = true;
      const provider = sessions.get(session)?.provider;
      if (provider) {
        g.providers.add(provider);
        total.providers.add(provider);
      }
    }
    const inc = incidentFigures(store, q.by, q.since ?? -Number.MAX_SAFE_INTEGER, to);
    const attributable = inc !== null;
    const out = [...groups].map(([k, a]) => figures(k, a, attributable ? (inc.get(k) ?? { count: 0, mttaMs: null, mttrMs: null }) : null));
    // groups with incidents but no usage in the range (an agent without a transcript)
    if (inc) for (const [k, f] of inc) if (!groups.has(k) && k !== "") out.push(figures(k, { c: newCounters(), sessions: new Set(), providers: new Set() }, f));
    const calendar = q.by === "day" || q.by === "week" || q.by === "month";
    out.sort((a, b) => (calendar ? a.key.localeCompare(b.key) : b.usd - a.usd || b.tokens.total - a.tokens.total || a.key.localeCompare(b.key)));
    const totalInc = attributable ? (inc.get("") ?? { count: 0, mttaMs: null, mttrMs: null }) : incidentFigures(store, "provider", q.since ?? -Number.MAX_SAFE_INTEGER, to)!.get("")!;
    return { by: q.by, from: q.since === null ? null : lo * unit, to: hi * unit, resolution, rows: out, total: figures("total", total, totalInc ?? { count: 0, mttaMs: null, mttrMs: null }) };
  });
}

/** Incident figures per group key ("" = all), or null when incidents do not belong to such groups. */
function incidentFigures(store: HistoryStore, by: GroupBy, from: number, to: number): Map<string, IncidentFigures> | null {
  if (by === "project" || by === "model" || by === "session") return null;
  const rows = store.db
    .prepare<[number, number], { agent: string; provider: string | null; opened_at: number; acked_at: number | null; resolved_at: number | null }>(
      "SELECT agent, provider, opened_at, acked_at, resolved_at FROM incidents WHERE opened_at >= ? AND opened_at < ?",
    )
    .all(from, to);
  const acc = new Map<string, { count: number; ack: number[]; res: number[] }>();
  const add = (k: string, r: (typeof rows)[number]) => {
    let a = acc.get(k);
    if (!a) acc.set(k, (a = { count: 0, ack: [], res: [] }));
    a.count++;
    if (r.acked_at !== null) a.ack.push(r.acked_at - r.opened_at);
    if (r.resolved_at !== null) a.res.push(r.resolved_at - r.opened_at);
  };
  for (const r of rows) {
    const k = by === "agent" ? r.agent : by === "provider" ? (r.provider ?? "-") : by === "day" ? dayKey(r.opened_at) : by === "week" ? weekKey(r.opened_at) : monthKey(r.opened_at);
    add(k, r);
    add("", r);
  }
  const mean = (xs: number[]) => (xs.length ? xs.reduce((s, x) => s + x, 0) / xs.length : null);
  const out = new Map<string, IncidentFigures>();
  for (const [k, a] of acc) out.set(k, { count: a.count, mttaMs: mean(a.ack), mttrMs: mean(a.res) });
  if (!out.has("")) out.set("", { count: 0, mttaMs: null, mttrMs: null });
  return out;
}

/**
 * Add each group's windowed objectives (by agent or provider): attainment over the report's
 * range and the error budget left over the objective's window at the range's end.
 * `objectivesFor` gives a group's objectives (from agents.yaml) and the sessions they count.
 */
export function addObjectives(store: HistoryStore, rep: Report, objectivesFor: (row: ReportRow) => { scope: ObjectiveScope; objectives: Objective[] } | null): void {
  if (rep.by !== "agent" && rep.by !== "provider") return;
  const from = rep.from ?? store.read(() => (store.db.prepare<[], { t: number | null }>("SELECT min(t) AS t FROM usage_hour").get()!.t ?? 0) * HOUR_MS);
  for (const row of rep.rows) {
    const spec = objectivesFor(row);
    if (!spec || !spec.objectives.length) continue;
    row.objectives = spec.objectives.map((o) => {
      const range = objectiveSli(store, spec.scope, o, rep.to, Math.max(1, rep.to - from));
      const attainment = range.total > 0 ? (100 * range.good) / range.total : null;
      return {
        kind: o.kind,
        objective: describeObjective(o),
        targetPct: o.targetPct,
        window: windowLabel(o),
        attainmentPct: attainment,
        met: attainment === null ? null : attainment >= o.targetPct,
        budgetRemainingPct: objectiveStatus(store, spec.scope, o, rep.to).budgetRemainingPct,
      };
    });
  }
}
