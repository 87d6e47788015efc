import { basename, dirname } from "node:path";
import { tildify } from "../util/home.js";
import { LATENCY_BUCKETS, latencyBound, USAGE_COUNTERS } from "./schema.js";
import { dayKeyOfDay, localDayOf, monthKeyOfDay, weekKeyOfDay } from "./calendar.js";
import { addCounters, COUNTER_INDEX as C, HOUR_MS, MINUTE_MS, newCounters, TURN_MAX, TURN_MIN, type Counters, type HistoryStore } from "./store.js";
import { HOUR_RETENTION_DAYS, MINUTE_RETENTION_DAYS } from "./retention.js";

/** A report range over more than 1/SCAN_FRACTION of what a table keeps reads it by scanning (measured: a scan costs about a fifth per row of index look-ups). */
const SCAN_FRACTION = 5;
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

/** Local calendar keys (the machine's time zone, `TZ`), as people read reports. */
export function dayKey(t: number): string {
  return dayKeyOfDay(localDayOf(t));
}

export function monthKey(t: number): string {
  return monthKeyOfDay(localDayOf(t));
}

/** ISO 8601 week of the local date, `2026-W47` (weeks start on Monday; week 1 holds the year's first Thursday). */
export function weekKey(t: number): string {
  return weekKeyOfDay(localDayOf(t));
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

function figures(key: string, a: Acc, incidents: IncidentFigures | null, sessions = a.sessions.size): ReportRow {
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
    sessions,
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

/**
 * Read a usage report from the store. Aggregated in SQL: whole local days inside the range
 * from the day table (when it is in this process's zone), the partial days at its edges from
 * minute or hour rows; one row per group comes back.
 */
export function buildReport(store: HistoryStore, q: ReportQuery): Report {
  const to = q.until ?? q.now;
  const minuteFloor = q.now - MINUTE_RETENTION_DAYS * 24 * HOUR_MS;
  const resolution: Report["resolution"] = q.since !== null && q.since >= minuteFloor ? "minute" : "hour";
  const unit = resolution === "minute" ? MINUTE_MS : HOUR_MS;
  const table = resolution === "minute" ? "usage_minute" : "usage_hour";
  const per = resolution === "minute" ? 60 : 1; // table units per hour
  const lo = q.since === null ? -Number.MAX_SAFE_INTEGER : Math.floor(q.since / unit);
  const hi = Math.ceil(to / unit); // exclusive
  return store.read(() => {
    const dayOf = store.days();
    // whole local days in [lo, hi) come from usage_day: days [dayLo, dayHi), which are the units [cutLo, cutHi)
    let dayLo = 0;
    let dayHi = 0;
    let cutLo = hi;
    let cutHi = hi;
    if (store.daysCurrent()) {
      const hiH = Math.floor(hi / per);
      dayHi = dayOf(hiH);
      let b = hiH;
      while (dayOf(b - 1) === dayHi) b--;
      let a = -Number.MAX_SAFE_INTEGER;
      dayLo = -Number.MAX_SAFE_INTEGER;
      if (q.since !== null) {
        const loH = Math.ceil(lo / per);
        const before = dayOf(loH - 1);
        dayLo = before + 1;
        a = loH;
        while (dayOf(a) === before) a++;
      }
      if (dayLo < dayHi) {
        cutLo = a === -Number.MAX_SAFE_INTEGER ? a : a * per;
        cutHi = b * per;
      } else dayLo = dayHi = 0;
    }
    const calendar = q.by === "day" || q.by === "week" || q.by === "month";
    const dayExpr = calendar ? (per === 1 ? "local_day(t)" : "local_day(t / 60)") : "0";
    const cols = [...USAGE_COUNTERS, "turn_ms_min", "turn_ms_max"].join(", ");
    // A range over a good part of a table is read by scanning it (`+t`: no index), which is several
    // times cheaper per row than looking each row up from the time index; a short range uses the index.
    const wide = (units: number, keptUnits: number) => units > keptUnits / SCAN_FRACTION;
    const dayT = wide(dayHi - dayLo, HOUR_RETENTION_DAYS) ? "+day" : "day";
    const edgeT = wide(hi - lo, (resolution === "minute" ? MINUTE_RETENTION_DAYS * 24 * 60 : HOUR_RETENTION_DAYS * 24)) ? "+t" : "t";
    const days = dayLo < dayHi;
    const union = (what: string, edgeWhat: string) =>
      days
        ? `SELECT ${what} FROM usage_day WHERE ${dayT} >= ? AND ${dayT} < ? UNION ALL SELECT ${edgeWhat} FROM ${table} WHERE t >= ? AND t < ? UNION ALL SELECT ${edgeWhat} FROM ${table} WHERE t >= ? AND t < ?`
        : `SELECT ${edgeWhat} FROM ${table} WHERE ${edgeT} >= ? AND ${edgeT} < ?`;
    const args = days ? [dayLo, dayHi, lo, cutLo, cutHi, hi] : [lo, hi];
    const group = {
      agent: "CASE WHEN s.id IS NULL THEN NULL WHEN s.agent IS NOT NULL AND s.agent <> '' THEN 'a:' || s.agent ELSE 's:' || s.id END",
      provider: "s.provider",
      project: "s.cwd",
      model: "u.model",
      session: "u.session",
      day: "u.day",
      week: "strftime('%G-W%V', u.day * 86400, 'unixepoch')", // ISO week, as weekKeyOfDay (SQLite ≥ 3.46; the driver bundles its own)
      month: "strftime('%Y-%m', u.day * 86400, 'unixepoch')",
    }[q.by];
    const sums = [...USAGE_COUNTERS.map((c) => `sum(u.${c})`), "min(u.turn_ms_min)", "max(u.turn_ms_max)"].join(", ");
    const sql =
      `SELECT ${group} AS g, count(DISTINCT u.session) AS n, group_concat(DISTINCT s.provider) AS providers, max(s.agent IS NOT NULL AND s.agent <> '') AS named, ` +
      `s.provider, s.key, s.session_id, s.cwd, s.agent, ${sums} ` +
      `FROM (${union(`session, model, day, ${cols}`, `session, model, ${dayExpr} AS day, ${cols}`)}) u LEFT JOIN sessions s ON s.id = u.session GROUP BY g`;
    const FIRST = 9; // first counter column (after g, n, providers, named and the five session columns)
    const models = q.by === "model" ? new Map(store.db.prepare<[], { id: number; name: string }>("SELECT id, name FROM models").all().map((m) => [m.id, m.name])) : null;
    const label = (r: unknown[]): string => {
      const g = r[0];
      const s = { provider: r[4] as string, key: r[5] as string, session_id: r[6] as string | null, cwd: r[7] as string | null, agent: r[8] as string | null };
      if (g === null || g === undefined) return "-";
      switch (q.by) {
        case "agent":
          return sessionLabel(s);
        case "provider":
          return g as string;
        case "project":
          return g ? tildify(g as string) : "-";
        case "model":
          return models!.get(g as number) || "-";
        case "session":
          return s.provider === null ? "-" : `${sessionLabel(s)} (${s.session_id ?? s.key})`;
        case "day":
          return dayKeyOfDay(g as number);
        default:
          return g as string;
      }
    };
    const groups = new Map<string, Acc & { n: number }>();
    const total: Acc = { c: newCounters(), sessions: new Set(), providers: new Set() };
    for (const r of store.db.prepare<number[], unknown[]>(sql).raw(true).iterate(...args)) {
      const key = label(r);
      let g = groups.get(key);
      if (!g) groups.set(key, (g = { c: newCounters(), sessions: new Set(), providers: new Set(), n: 0 }));
      const c = newCounters();
      for (let i = 0; i < USAGE_COUNTERS.length; i++) c[i] = r[FIRST + i] as number;
      const tmin = r[FIRST + TURN_MIN] as number | null;
      const tmax = r[FIRST + TURN_MAX] as number | null;
      if (tmin !== null) c[TURN_MIN] = tmin;
      if (tmax !== null) c[TURN_MAX] = tmax;
      addCounters(g.c, c);
      addCounters(total.c, c);
      g.n += r[1] as number; // groups merged under one name have disjoint sessions
      if (r[3]) g.named = true;
      for (const p of ((r[2] as string | null) ?? "").split(",")) {
        if (!p) continue;
        g.providers.add(p);
        total.providers.add(p);
      }
    }
    // groups by session attributes hold disjoint sessions; groups by model or time share them
    const sessionsTotal = calendar || q.by === "model"
      ? store.db.prepare<number[], { n: number }>(`SELECT count(DISTINCT session) AS n FROM (${union("session", "session")})`).get(...args)!.n
      : [...groups.values()].reduce((n, g) => n + g.n, 0);
    const inc = incidentFigures(store, q.by, q.since ?? -Number.MAX_SAFE_INTEGER, to);
    const attributable = inc !== null;
    const out = [...groups].map(([k, a]) => figures(k, a, attributable ? (inc.get(k) ?? { count: 0, mttaMs: null, mttrMs: null }) : null, a.n));
    // groups with incidents but no usage in the range (an agent without a transcript)
    if (inc) for (const [k, f] of inc) if (!groups.has(k) && k !== "") out.push(figures(k, { c: newCounters(), sessions: new Set(), providers: new Set() }, f));
    out.sort((a, b) => (calendar ? a.key.localeCompare(b.key) : b.usd - a.usd || b.tokens.total - a.tokens.total || a.key.localeCompare(b.key)));
    const totalInc = attributable ? (inc.get("") ?? { count: 0, mttaMs: null, mttrMs: null }) : incidentFigures(store, "provider", q.since ?? -Number.MAX_SAFE_INTEGER, to)!.get("")!;
    return {
      by: q.by,
      from: q.since === null ? null : lo * unit,
      to: hi * unit,
      resolution,
      rows: out,
      total: figures("total", total, totalInc ?? { count: 0, mttaMs: null, mttrMs: null }, sessionsTotal),
    };
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
