import { fmtAgo, fmtBytes, fmtDuration, fmtNum, fmtUsd } from "../fleet/format.js";
import type { FleetAgent } from "../fleet/model.js";
import type { ColumnSpec } from "./table.js";

/**
 * The fleet table's columns and what gives way first when the terminal is narrow.
 * `agent`, `pid` and `status` always stay (which agent, and is it in trouble); the agent
 * name and the status are shortened first; then columns go in this order: uptime, err%,
 * mem, last output, cpu%, tokens/min, $/hr (cost and burn rate are the last to go).
 */
export const FLEET_COLUMNS: readonly ColumnSpec[] = [
  { head: "agent", keep: true, soft: 16, min: 8 },
  { head: "pid", keep: true },
  { head: "uptime", drop: 1 },
  { head: "cpu%", drop: 5 },
  { head: "mem", drop: 3 },
  { head: "tokens/min", drop: 6 },
  { head: "$/hr", drop: 7 },
  { head: "err%", drop: 2 },
  { head: "last output", drop: 4 },
  { head: "status", keep: true, soft: 14, min: 7 },
];

/** `--wide` adds these (never fitted: `--wide` asks for everything). */
export const WIDE_COLUMNS: readonly ColumnSpec[] = [
  { head: "latency p50/p95" },
  { head: "cwd" },
  { head: "model" },
  { head: "session" },
  { head: "provider" },
];

/** `breach:<slo>,…` with an open incident, else the observed status (`-` when unknown). */
export function statusCell(a: FleetAgent): string {
  if (a.openIncidents.length) return `breach:${a.openIncidents.join(",")}`;
  return a.status === "unknown" ? "-" : a.status;
}

export function cpuCell(a: FleetAgent): string {
  const c = a.resource.cpuPct;
  return c === null ? "-" : c < 0.05 ? "0" : c.toFixed(1);
}

export function usdPerHourCell(a: FleetAgent): string {
  const t = a.transcript;
  return t ? (t.unpriced && (t.usdPerHour ?? 0) === 0 ? "-" : fmtUsd(t.usdPerHour ?? null)) : "-";
}

/** One row of the fleet table, raw (cells are escaped by the table). */
export function agentCells(a: FleetAgent, now: number, wide: boolean): string[] {
  const t = a.transcript;
  const row = [
    a.name,
    String(a.pid),
    fmtDuration(a.resource.uptimeSec),
    cpuCell(a),
    fmtBytes(a.resource.rssBytes),
    t ? fmtNum(t.tokensPerMin) : "-",
    usdPerHourCell(a),
    t ? (t.errorRatePct === null ? "0" : t.errorRatePct.toFixed(1)) : "-",
    fmtAgo(a.lastOutputAt, now),
    statusCell(a),
  ];
  if (wide) {
    const l = t?.requestLatencyMs;
    row.push(l ? `${Math.round(l.p50)}/${Math.round(l.p95)} ms` : "-", a.cwd ?? "-", t?.model ?? "-", t?.sessionId ?? "-", a.provider);
  }
  return row;
}
