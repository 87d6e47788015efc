import { fmtAgo, fmtBytes, fmtDuration, fmtNum, fmtUsd } from "../fleet/format.js";
import type { FleetAgent } from "../fleet/model.js";
import { SORTS, statusKey, type Totals } from "../fleet/view.js";
import { incidentState, type Incident } from "../slo/incidents.js";
import { escapeText as esc, sanitizeTerminal } from "../term/sanitize.js";
import { agentCells, FLEET_COLUMNS, statusCell } from "./fleet-table.js";
import { CpuHistory, requestSeries, sparkline, SPARK_MINUTES } from "./history.js";
import { line, text, type Line, type Segment, type Style } from "./screen.js";
import { COLUMN_GAP, fitColumns, type ColumnSpec } from "./table.js";
import { fit, textWidth } from "./text.js";

/**
 * The pages of the live view as lines: pure functions of the data and a clock. Every field
 * that came from outside (names, paths, models, transcript text, bus summaries, incident
 * details) is escaped here, at the one place it meets the screen.
 */

/** The last tool calls of an agent, from its transcript. */
export interface ToolCall {
  at: number;
  tool: string;
  summary: string;
}

/** One SLO that applies to the agent, evaluated now. */
export interface SloLine {
  slo: string;
  target: string;
  breached: boolean;
  detail: string;
}

export { SORTS, sortAgents, matchesFilter, fleetTotals, type SortKey, type Totals } from "../fleet/view.js";

export function statusStyle(a: FleetAgent): Style {
  const k = statusKey(a);
  return k === "unknown" ? "dim" : (k as Style);
}

const plural = (n: number, one: string, many = one + "s") => `${n} ${n === 1 ? one : many}`;

/**
 * The first line of every page: fleet totals and the time of the data. On a narrow terminal
 * the clock goes first, then the labels shorten (`tok/min`, `open`); the totals always stay.
 */
export function headerLine(title: string, t: Totals, takenAt: number | null, cols = Infinity): Line {
  const clock = takenAt === null ? "collecting…" : new Date(takenAt).toTimeString().slice(0, 8);
  const build = (short: boolean, withClock: boolean): Line =>
    line(
      text(short ? "top" : title, "title"),
      text("  "),
      text(plural(t.agents, "agent"), "bold"),
      text(" · "),
      text(`${fmtUsd(t.usdPerHour)}/hr`, "bold"),
      text(" · "),
      text(`${fmtNum(t.tokensPerMin)} ${short ? "tok/min" : "tokens/min"}`, "bold"),
      text(" · "),
      text(short ? `${t.openIncidents} open` : plural(t.openIncidents, "open incident"), t.openIncidents > 0 ? "breach" : "bold"),
      text(" · "),
      text(t.busPeers === null ? (short ? "bus -" : "bus: no broker") : short ? `bus ${t.busPeers}` : `bus ${plural(t.busPeers, "subscriber")}`, "bold"),
      ...(withClock ? [text(`  ${clock}`, "dim")] : []),
    );
  const width = (l: Line) => l.segments.reduce((n, s) => n + textWidth(s.text), 0);
  for (const [short, withClock] of [[false, true], [false, false], [true, true], [true, false]] as const) {
    const l = build(short, withClock);
    if (width(l) <= cols) return l;
  }
  return build(true, false);
}

// ------------------------------------------------------------------ the fleet list

/** Column specs of the live list: the one-shot table's, with the status cell coloured. */
const LIST_COLUMNS: readonly ColumnSpec[] = FLEET_COLUMNS;

export interface ListView {
  agents: FleetAgent[];
  /** Index of the selected agent in `agents`, -1 when none. */
  selected: number;
  /** First agent shown. */
  top: number;
}

/** The table's head line and one line per visible agent, fitted to `cols`. */
export function listLines(v: ListView, now: number, cols: number, height: number): Line[] {
  const rows = v.agents.map((a) => agentCells(a, now, false).map((c) => esc(c)));
  const natural = LIST_COLUMNS.map((_, i) => rows.reduce((m, r) => Math.max(m, textWidth(r[i] ?? "")), 0));
  const fitted = fitColumns(LIST_COLUMNS, natural, cols);
  const statusIdx = LIST_COLUMNS.findIndex((c) => c.head === "status");
  const cellsLine = (cells: readonly string[], style: (i: number) => Style | undefined): Segment[] => {
    const out: Segment[] = [];
    fitted.shown.forEach((i, k) => {
      if (k > 0) out.push(text(" ".repeat(COLUMN_GAP)));
      out.push(text(fit(cells[i] ?? "", fitted.widths[k]!, LIST_COLUMNS[i]!.align ?? "left"), style(i)));
    });
    return out;
  };
  const out: Line[] = [{ segments: cellsLine(LIST_COLUMNS.map((c) => c.head), () => "head") }];
  const end = Math.min(v.agents.length, v.top + Math.max(0, height - 1));
  for (let i = v.top; i < end; i++) {
    const a = v.agents[i]!;
    out.push({ segments: cellsLine(rows[i]!, (col) => (col === statusIdx ? statusStyle(a) : undefined)), selected: i === v.selected });
  }
  if (fitted.dropped.length && out.length < height) out.push(line(text(`${fitted.dropped.join(", ")} hidden at ${cols} columns`, "dim")));
  return out;
}

// ------------------------------------------------------------------ details

function pct(v: number | null | undefined): string {
  return v === null || v === undefined ? "-" : `${v.toFixed(v < 10 ? 1 : 0)}%`;
}

function bar(p: number, width: number): string {
  const n = Math.max(0, Math.min(width, Math.round((p / 100) * width)));
  return "█".repeat(n) + "░".repeat(width - n);
}

function kv(label: string, ...value: Segment[]): Line {
  return line(text(label.padEnd(12), "dim"), ...value);
}

export interface DetailsData {
  agent: FleetAgent | null;
  /** Name and pid of the agent shown, for when it has left the fleet. */
  label: string;
  now: number;
  cpu: CpuHistory;
  tools: readonly ToolCall[];
  incidents: readonly Incident[];
  slos: readonly SloLine[];
}

/** Every signal of one agent, with sparklines of the last half hour. */
export function detailsLines(d: DetailsData): Line[] {
  const a = d.agent;
  if (!a) return [line(text(d.label, "bold"), text("  has exited or left the fleet", "exited"))];
  const t = a.transcript;
  const out: Line[] = [];
  out.push(line(text(esc(a.name), "bold"), text(` (pid ${a.pid}) · ${esc(a.provider)} · `), text(esc(statusCell(a)), statusStyle(a)), text(` · ${a.source}`, "dim")));
  out.push(kv("command", text(esc(a.command))));
  out.push(kv("cwd", text(esc(a.cwd ?? "-"))));
  out.push(kv("model", text(esc(t?.model ?? "-")), text("  session ", "dim"), text(esc(t?.sessionId ?? "-"))));
  out.push(
    kv(
      "process",
      text(`uptime ${fmtDuration(a.resource.uptimeSec)} · cpu ${a.resource.cpuPct === null ? "-" : a.resource.cpuPct.toFixed(1) + "%"} · mem ${fmtBytes(a.resource.rssBytes)} · children ${a.resource.children ?? "-"} · last output ${fmtAgo(a.lastOutputAt, d.now)}`),
    ),
  );
  const series = requestSeries(a, d.now);
  const cpu = d.cpu.series(a, d.now);
  const spark = (label: string, now: string, values: (number | null)[]) => kv(label, text(now.padEnd(9)), text(sparkline(values), "ok"), text(`  last ${SPARK_MINUTES} min`, "dim"));
  out.push(spark("tokens/min", t ? fmtNum(t.tokensPerMin) : "-", series.tokensPerMin));
  out.push(spark("$/hr", t ? (t.unpriced ? "-" : fmtUsd(t.usdPerHour)) : "-", series.usdPerHour));
  out.push(spark("cpu%", a.resource.cpuPct === null ? "-" : a.resource.cpuPct.toFixed(1), cpu));
  const lat = (l: { p50: number; p95: number } | null | undefined, unit = "ms") => (l ? `${Math.round(l.p50)}/${Math.round(l.p95)} ${unit}` : "-");
  out.push(
    kv(
      "requests",
      text(
        t
          ? `${t.requestsPerMin.toFixed(1)}/min · err% ${t.errorRatePct === null ? "0" : t.errorRatePct.toFixed(1)} · tool failures ${t.toolFailures} · turn p50/p95 ${lat(t.turnLatencyMs)} · request p50/p95 ${lat(t.requestLatencyMs)} · spent ${fmtUsd(t.spendLastHourUsd)} last hour, ${fmtUsd(t.totalUsd)} session`
          : "- (no session transcript)",
      ),
    ),
  );
  out.push(kv("context", t?.contextPct == null ? text("-") : text(`${bar(t.contextPct, 20)} ${pct(t.contextPct)}`, t.contextPct >= 90 ? "warn" : undefined)));
  const rl = t?.rateLimits;
  out.push(kv("rate limits", text(rl ? `5h window ${pct(rl.fiveHourPct)} · weekly ${pct(rl.weeklyPct)}` : "- (not reported by this agent)")));
  out.push(kv("stdout", text(a.stdoutPath ? esc(a.stdoutPath) : "not a regular file (t follows the transcript)")));
  out.push(kv("transcript", text(esc(t?.transcriptPath ?? "-"))));
  out.push(line(text("last tool calls", "head")));
  if (d.tools.length === 0) out.push(line(text("  none seen", "dim")));
  for (const c of d.tools) out.push(line(text(`  ${new Date(c.at).toTimeString().slice(0, 8)}  `, "dim"), text(esc(c.tool), "bold"), text(c.summary ? `  ${esc(c.summary)}` : "")));
  out.push(line(text("open incidents", "head")));
  const open = d.incidents.filter((i) => !i.resolved_at && i.pid === a.pid);
  if (open.length === 0) out.push(line(text("  none", "dim")));
  for (const i of open) out.push(line(text(`  ${esc(i.id)}  `), text(esc(i.slo), "breach"), text(`  ${incidentState(i)}  ${fmtAgo(Date.parse(i.opened_at), d.now)}  `), text(esc(i.detail))));
  out.push(line(text("SLOs", "head")));
  if (d.slos.length === 0) out.push(line(text("  none set for this agent (agents.yaml, /agents budget)", "dim")));
  for (const s of d.slos) out.push(line(text(`  ${s.slo.padEnd(9)}`), text(`${s.target} `.padEnd(18)), text(s.breached ? "breached  " : "ok        ", s.breached ? "breach" : "ok"), text(esc(s.detail))));
  return out;
}

// ------------------------------------------------------------------ text pages (trace, bus, evidence)

/** A line of someone else's text, inert: colours dropped, tabs as spaces, every control shown escaped. */
export function screenText(raw: string): string {
  // eslint-disable-next-line no-control-regex
  return esc(sanitizeTerminal(raw).replace(/\x1b\[[0-9;:]*m/g, "").replace(/\t/g, "  ").replace(/\n/g, " "));
}

// ------------------------------------------------------------------ incidents

export function incidentRows(incidents: readonly Incident[], now: number): string[][] {
  return incidents.map((i) => [i.id, i.agent, String(i.pid), i.slo, incidentState(i), fmtAgo(Date.parse(i.opened_at), now), i.detail]);
}

export const INCIDENT_COLUMNS: readonly ColumnSpec[] = [
  { head: "id", keep: true },
  { head: "agent", keep: true, soft: 14, min: 8 },
  { head: "pid", drop: 2 },
  { head: "slo", keep: true },
  { head: "state", keep: true },
  { head: "opened", drop: 1 },
  { head: "detail", keep: true, soft: 20, min: 6 },
];

export function incidentListLines(incidents: readonly Incident[], selected: number, top: number, now: number, cols: number, height: number): Line[] {
  if (incidents.length === 0) return [line(text("no incidents", "dim"))];
  const rows = incidentRows(incidents, now).map((r) => r.map((c) => esc(c)));
  const natural = INCIDENT_COLUMNS.map((_, i) => rows.reduce((m, r) => Math.max(m, textWidth(r[i] ?? "")), 0));
  const fitted = fitColumns(INCIDENT_COLUMNS, natural, cols);
  const seg = (cells: readonly string[], style: (i: number) => Style | undefined): Segment[] => {
    const out: Segment[] = [];
    fitted.shown.forEach((i, k) => {
      if (k > 0) out.push(text("  "));
      out.push(text(fit(cells[i] ?? "", fitted.widths[k]!), style(i)));
    });
    return out;
  };
  const out: Line[] = [{ segments: seg(INCIDENT_COLUMNS.map((c) => c.head), () => "head") }];
  for (let i = top; i < Math.min(incidents.length, top + height - 1); i++) {
    const st = incidentState(incidents[i]!);
    out.push({ segments: seg(rows[i]!, (c) => (c === 4 ? (st === "open" ? "breach" : st === "acked" ? "warn" : "dim") : undefined)), selected: i === selected });
  }
  return out;
}

/** One incident with its evidence, every field escaped, the evidence as inert text. */
export function incidentLines(i: Incident, now: number): Line[] {
  const when = (iso: string | null) => (iso ? `${esc(iso)} (${fmtAgo(Date.parse(iso), now)})` : "-");
  const out: Line[] = [
    line(text(`incident ${esc(i.id)}  `, "bold"), text(incidentState(i), incidentState(i) === "open" ? "breach" : "bold")),
    kv("agent", text(`${esc(i.agent)} (pid ${i.pid}, ${esc(i.provider)})`)),
    kv("slo", text(esc(i.slo))),
    kv("detail", text(esc(i.detail))),
    kv("opened", text(when(i.opened_at))),
  ];
  if (i.acked_at) out.push(kv("acked", text(when(i.acked_at))));
  if (i.resolved_at) out.push(kv("resolved", text(`${when(i.resolved_at)}: ${esc(i.resolution ?? "-")}`)));
  for (const k of i.kills) out.push(kv("kill", text(`${esc(k.at)}: ${esc(k.outcome)}`)));
  const r = i.evidence.resources;
  out.push(kv("resources", text(`cpu ${r.cpuPct === null ? "-" : r.cpuPct.toFixed(1) + "%"} · mem ${fmtBytes(r.rssBytes)} · uptime ${fmtDuration(r.uptimeSec)} · children ${r.children ?? "-"}`)));
  const s = i.evidence.signals;
  out.push(kv("signals", text(`status ${esc(s.status)} · tokens/min ${s.tokensPerMin ?? "-"} · $/hr ${s.usdPerHour === null ? "-" : s.usdPerHour.toFixed(2)} · err% ${s.errorRatePct === null ? "-" : s.errorRatePct.toFixed(1)} · model ${esc(s.model ?? "-")}`)));
  if (i.evidence.source) {
    out.push(kv("evidence", text(`last ${Buffer.byteLength(i.evidence.output)} bytes of ${esc(i.evidence.source)}:`)));
    for (const l of i.evidence.output.replace(/\n$/, "").split("\n")) out.push(line(text(`  ${screenText(l)}`)));
  } else out.push(kv("evidence", text("no output file or transcript was readable", "dim")));
  return out;
}

// ------------------------------------------------------------------ help

export const HELP: ReadonlyArray<[string, string]> = [
  ["↑/↓  j/k", "select (PgUp/PgDn, Home/End)"],
  ["Enter", "details of the agent: every signal, sparklines of the last 30 minutes"],
  ["t", "trace it: its stdout when that is a file, else its session transcript"],
  ["b", "the bus: findings between agents, live"],
  ["i", "incidents: Enter evidence, a acknowledge, r resolve"],
  ["K", "kill it: SIGTERM, 5 s grace, SIGKILL (asks first)"],
  ["s", `sort: ${SORTS.join(", ")}`],
  ["/", "filter by name, provider or folder (Enter keeps it, Esc clears it)"],
  ["Esc", "back"],
  ["?", "this help"],
  ["q  Ctrl+C", "leave"],
];

export function helpLines(): Line[] {
  return [line(text("keys", "head")), ...HELP.map(([k, d]) => line(text(`  ${k.padEnd(12)}`, "key"), text(d)))];
}
