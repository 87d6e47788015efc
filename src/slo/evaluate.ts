import type { FleetAgent, RequestSample } from "../fleet/model.js";
import { fmtUsd } from "../fleet/format.js";
import type { SloSettings } from "./config.js";

/**
 * SLO evaluators: pure functions of one agent's signals, its settings and a clock.
 * Each configured SLO yields a finding, breached or not (a non-breached finding
 * resolves an open incident); an SLO whose signal cannot be observed yields nothing.
 */
/** `success` and `spend` are the windowed objectives with an error budget (`objectives.ts`). */
export type SloName = "progress" | "cost" | "errors" | "conflict" | "success" | "spend";
/** The threshold SLOs (the windowed objectives are `OBJECTIVE_KINDS` in objectives.ts). */
export const SLO_NAMES: readonly Exclude<SloName, "success" | "spend">[] = ["progress", "cost", "errors"];

export interface SloFinding {
  slo: SloName;
  breached: boolean;
  /** One line: `8m no progress (threshold: 8m)`. */
  detail: string;
}

export interface BurnWindows {
  /** The fast window: catches a burn quickly. */
  fastMs: number;
  /** The slow window: confirms it is sustained, so one spike does not page. */
  slowMs: number;
}

/**
 * Multi-window burn rate (as in the SRE workbook): both windows must be over threshold.
 * 5 minutes reacts within one dashboard glance; 1 hour matches the hourly budget unit.
 */
export const DEFAULT_WINDOWS: BurnWindows = { fastMs: 5 * 60_000, slowMs: 60 * 60_000 };

/** An error rate over fewer requests than this in the slow window is noise, not a rate. */
export const MIN_REQUESTS_FOR_ERROR_RATE = 5;

/** `8m`, `1h12m`, `45s`: whole units, for detail lines. */
export function fmtSpan(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m`;
  return `${Math.floor(m / 60)}h${m % 60 ? `${m % 60}m` : ""}`;
}

export function evaluateProgress(agent: FleetAgent, minutes: number, now: number): SloFinding | null {
  if (!(minutes > 0)) return null; // 0 switches the progress SLO off
  const thresholdMs = minutes * 60_000;
  if (agent.transcript?.waitingForInput || agent.status === "waiting") {
    return { slo: "progress", breached: false, detail: "waiting for the user" };
  }
  // with no observable output channel at all, silence says nothing
  const observable = agent.transcript !== null || agent.stdoutPath !== null;
  const since = agent.lastOutputAt ?? (observable ? agent.startTime : null);
  if (since === null) return null;
  const quiet = now - since;
  return { slo: "progress", breached: quiet >= thresholdMs, detail: `${fmtSpan(quiet)} no progress (threshold: ${fmtSpan(thresholdMs)})` };
}

function usd(n: number): string {
  return `$${n.toFixed(2)}`;
}

export function evaluateCost(agent: FleetAgent, budget: number): SloFinding | null {
  const t = agent.transcript;
  if (!t) return null;
  const projected = t.usdPerHour;
  const spent = t.spendLastHourUsd;
  if (projected === null && spent === null) return null; // unpriced
  const p = projected ?? 0;
  const s = spent ?? 0;
  return {
    slo: "cost",
    breached: p >= budget && s >= budget,
    detail: `${usd(p)}/h projected, ${usd(s)} spent in the last hour (budget: ${usd(budget)}/h)`,
  };
}

function errorRate(samples: readonly RequestSample[], from: number): { pct: number; n: number } {
  let n = 0;
  let errors = 0;
  for (const r of samples) {
    if (r.t < from) continue;
    n++;
    if (r.error) errors++;
  }
  return { pct: n ? (100 * errors) / n : 0, n };
}

export function evaluateErrors(agent: FleetAgent, thresholdPct: number, now: number, windows: BurnWindows = DEFAULT_WINDOWS): SloFinding | null {
  const t = agent.transcript;
  if (!t) return null;
  const fast = errorRate(t.recent, now - windows.fastMs);
  const slow = errorRate(t.recent, now - windows.slowMs);
  const enough = slow.n >= MIN_REQUESTS_FOR_ERROR_RATE && fast.n > 0;
  return {
    slo: "errors",
    breached: enough && fast.pct >= thresholdPct && slow.pct >= thresholdPct,
    detail: `${fast.pct.toFixed(1)}% error rate (threshold: ${thresholdPct.toFixed(1)}%)`,
  };
}

/** Every SLO configured for the agent, evaluated. */
export function evaluateAgent(agent: FleetAgent, settings: SloSettings, now: number, windows: BurnWindows = DEFAULT_WINDOWS): SloFinding[] {
  const out: SloFinding[] = [];
  if (settings.progress_minutes !== undefined) {
    const f = evaluateProgress(agent, settings.progress_minutes, now);
    if (f) out.push(f);
  }
  if (settings.hourly_budget_usd !== undefined) {
    const f = evaluateCost(agent, settings.hourly_budget_usd);
    if (f) out.push(f);
  }
  if (settings.error_rate_pct !== undefined) {
    const f = evaluateErrors(agent, settings.error_rate_pct, now, windows);
    if (f) out.push(f);
  }
  return out;
}

/** True when the settings define at least one SLO (price overrides alone do not). */
export function hasSlo(s: SloSettings): boolean {
  return s.hourly_budget_usd !== undefined || (s.progress_minutes ?? 0) > 0 || s.error_rate_pct !== undefined || s.success_objective_pct !== undefined || s.spend_objective_pct !== undefined;
}

/** What each SLO promises, in a few words (the live view's details, the web page's gauges). */
export function sloTarget(slo: string, s: SloSettings): string {
  if (slo === "cost") return `budget ${fmtUsd(s.hourly_budget_usd ?? null)}/h`;
  if (slo === "progress") return `output within ${s.progress_minutes}m`;
  if (slo === "errors") return `errors under ${s.error_rate_pct}%`;
  return slo;
}
