import { formatDuration, parseDuration } from "../util/duration.js";
import type { SloSettings } from "./config.js";

/**
 * SLOs over a compliance window, with an error budget (the SRE book's model): an objective
 * says what share of events must be good over the window; the error budget is the share
 * that may be bad; the burn rate is how fast the bad share of a recent period spends it
 * (1× spends exactly the budget by the end of the window). Pure functions of counts and a
 * clock: the counts come from the history store (`src/history/objectives.ts`).
 *
 * Kinds (agents.yaml keys):
 *  - `success`: `success_objective_pct` of requests succeed (an API error is a bad event).
 *  - `spend`: `spend_objective_pct` of the hours the agent spent anything stay within
 *    `hourly_budget_usd` (a time-slice objective; idle hours are neither good nor bad).
 * Both over `slo_window` (default 28d).
 */
export type ObjectiveKind = "success" | "spend";
export const OBJECTIVE_KINDS: readonly ObjectiveKind[] = ["success", "spend"];

/** Default compliance window. */
export const DEFAULT_SLO_WINDOW = "28d";
export const DEFAULT_SLO_WINDOW_MS = 28 * 86_400_000;
/** A window must fit in the hour rows history keeps (400 days) and be at least an hour. */
export const MIN_SLO_WINDOW_MS = 3_600_000;
export const MAX_SLO_WINDOW_MS = 400 * 86_400_000;

export interface Objective {
  kind: ObjectiveKind;
  /** Target share of good events, percent (0 < target < 100). */
  targetPct: number;
  windowMs: number;
  /** For `spend`: the hourly budget an hour must stay within. */
  hourlyBudgetUsd?: number;
}

/** Good and total events over a period (requests; or active hours for spend). */
export interface Sli {
  good: number;
  total: number;
}

/** The objectives an agent's (or provider's) settings define. */
export function objectivesOf(s: SloSettings): Objective[] {
  const windowMs = s.slo_window !== undefined ? (parseDuration(s.slo_window) ?? DEFAULT_SLO_WINDOW_MS) : DEFAULT_SLO_WINDOW_MS;
  const out: Objective[] = [];
  if (s.success_objective_pct !== undefined) out.push({ kind: "success", targetPct: s.success_objective_pct, windowMs });
  if (s.spend_objective_pct !== undefined && s.hourly_budget_usd !== undefined) out.push({ kind: "spend", targetPct: s.spend_objective_pct, windowMs, hourlyBudgetUsd: s.hourly_budget_usd });
  return out;
}

/** `success ≥ 99.5%`, `spend ≤ $5.00/h in 95% of hours`. */
export function describeObjective(o: Objective): string {
  const pct = `${+o.targetPct.toFixed(3)}%`;
  return o.kind === "success" ? `success ≥ ${pct}` : `spend ≤ $${o.hourlyBudgetUsd!.toFixed(2)}/h in ${pct} of hours`;
}

export function windowLabel(o: Objective): string {
  return formatDuration(o.windowMs);
}

/** Share of bad events a burn rate of 1 allows. */
function allowedBadRatio(o: Objective): number {
  return 1 - o.targetPct / 100;
}

/** Burn rate of a period: its bad ratio over the allowed one; null with no events. */
export function burnRate(o: Objective, sli: Sli): number | null {
  if (sli.total <= 0) return null;
  return (sli.total - sli.good) / sli.total / allowedBadRatio(o);
}

export interface BudgetStatus {
  objective: Objective;
  /** Good share over the window, percent; null with no events. */
  attainmentPct: number | null;
  /** Bad events the window allows (its total × the allowed ratio). */
  budgetEvents: number;
  /** Bad events so far. */
  badEvents: number;
  /** Share of the error budget left, percent (negative when overspent); null with no events. */
  budgetRemainingPct: number | null;
  /** Burn rate over the last hour and over the window's average. */
  burnRate1h: number | null;
  burnRateWindow: number | null;
}

/** Error budget of an objective from its window's counts and its last hour's. */
export function budgetStatus(o: Objective, window: Sli, lastHour: Sli): BudgetStatus {
  const bad = window.total - window.good;
  const budget = window.total * allowedBadRatio(o);
  return {
    objective: o,
    attainmentPct: window.total > 0 ? (100 * window.good) / window.total : null,
    budgetEvents: budget,
    badEvents: bad,
    budgetRemainingPct: window.total > 0 ? 100 * (1 - bad / budget) : null,
    burnRate1h: burnRate(o, lastHour),
    burnRateWindow: burnRate(o, window),
  };
}

/**
 * The multiwindow, multi-burn-rate alert pairs (the SRE workbook, ch. 5): an alert fires when
 * both the long and the short window burn faster than the threshold. The long window makes
 * it significant, the short one makes it current (it stops firing soon after the burn stops).
 * Thresholds are the burn rates that spend `budgetShare` of the budget within the long
 * window: budgetShare × window / long. For a 30-day window that is the workbook's 14.4 and 6;
 * for 28 days, 13.44 and 5.6.
 */
export interface BurnAlertPair {
  name: "fast" | "slow";
  longMs: number;
  shortMs: number;
  /** Share of the error budget the long window may spend before this fires. */
  budgetShare: number;
}

export const BURN_ALERT_PAIRS: readonly BurnAlertPair[] = [
  { name: "fast", longMs: 3_600_000, shortMs: 5 * 60_000, budgetShare: 0.02 },
  { name: "slow", longMs: 6 * 3_600_000, shortMs: 30 * 60_000, budgetShare: 0.05 },
];

/** The burn-rate threshold of a pair for a compliance window. */
export function burnThreshold(pair: BurnAlertPair, windowMs: number): number {
  return (pair.budgetShare * windowMs) / pair.longMs;
}

/** Fewer events than this in a long window are noise, not a rate (one failure out of one is not a 100 % burn). */
export const MIN_EVENTS_FOR_BURN = 5;

export interface BurnAlert {
  pair: BurnAlertPair;
  threshold: number;
  longBurn: number;
  shortBurn: number;
}

/**
 * The pairs that fire, given each window's counts (`counts(ms)`: the SLI over the last `ms`).
 * For a time-slice objective (spend) the short windows are judged by their spend rate: the
 * caller gives them as one slice, bad when its rate projected to an hour is over the budget.
 */
export function firingBurnAlerts(o: Objective, counts: (ms: number) => Sli): BurnAlert[] {
  const out: BurnAlert[] = [];
  for (const pair of BURN_ALERT_PAIRS) {
    const long = counts(pair.longMs);
    const short = counts(pair.shortMs);
    if (o.kind === "success" && long.total < MIN_EVENTS_FOR_BURN) continue;
    const lb = burnRate(o, long);
    const sb = burnRate(o, short);
    const threshold = burnThreshold(pair, o.windowMs);
    if (lb !== null && sb !== null && lb >= threshold && sb >= threshold) out.push({ pair, threshold, longBurn: lb, shortBurn: sb });
  }
  return out;
}

/** Parse and check a window from agents.yaml or a flag: a message for the user when it is not one. */
export function checkWindow(raw: string): string | null {
  const ms = parseDuration(raw);
  if (ms === undefined) return `slo_window must be a duration such as 28d, 7d or 12h, not ${JSON.stringify(raw)}`;
  if (ms < MIN_SLO_WINDOW_MS || ms > MAX_SLO_WINDOW_MS) return "slo_window must be between 1h and 400d";
  return null;
}
