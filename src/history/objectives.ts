import { budgetStatus, type BudgetStatus, type Objective, type Sli } from "../slo/objectives.js";
import { MINUTE_RETENTION_DAYS } from "./retention.js";
import { HOUR_MS, MINUTE_MS, type HistoryStore } from "./store.js";

/**
 * The counts behind SLO objectives, read from the history store: over the compliance window
 * for the error budget, and over the burn-rate windows (5 min … 6 h) for alerts.
 * Scope: the sessions that ran as one agent name, or every session of a provider.
 */
export type ObjectiveScope = { agent: string } | { provider: string };

function scopeSql(scope: ObjectiveScope): { where: string; arg: string } {
  return "agent" in scope ? { where: "session IN (SELECT id FROM sessions WHERE agent = ?)", arg: scope.agent } : { where: "session IN (SELECT id FROM sessions WHERE provider = ?)", arg: scope.provider };
}

const MINUTES_KEPT_MS = MINUTE_RETENTION_DAYS * 24 * HOUR_MS;

/**
 * The SLI of `o` over the last `ms` before `now`.
 *  - success: requests are good, API errors bad; read from minute rows while they are kept,
 *    else from hour rows (edges at the hour).
 *  - spend: clock hours with any spend; an hour is bad when its spend is over the budget. A
 *    window shorter than an hour is one slice, bad when its spend rate is over the budget.
 */
export function objectiveSli(store: HistoryStore, scope: ObjectiveScope, o: Objective, now: number, ms: number): Sli {
  const { where, arg } = scopeSql(scope);
  return store.read(() => {
    if (o.kind === "success") {
      const minutes = ms <= MINUTES_KEPT_MS;
      const unit = minutes ? MINUTE_MS : HOUR_MS;
      const r = store.db
        .prepare<[string, number, number], { requests: number | null; errors: number | null }>(
          `SELECT sum(requests) AS requests, sum(errors) AS errors FROM ${minutes ? "usage_minute" : "usage_hour"} WHERE ${where} AND t >= ? AND t <= ?`,
        )
        .get(arg, Math.floor((now - ms) / unit), Math.floor(now / unit))!;
      const good = r.requests ?? 0;
      return { good, total: good + (r.errors ?? 0) };
    }
    const budget = o.hourlyBudgetUsd!;
    if (ms < HOUR_MS) {
      const r = store.db
        .prepare<[string, number, number], { usd: number | null }>(`SELECT sum(usd) AS usd FROM usage_minute WHERE ${where} AND t >= ? AND t <= ?`)
        .get(arg, Math.floor((now - ms) / MINUTE_MS), Math.floor(now / MINUTE_MS))!;
      const usd = r.usd ?? 0;
      if (usd <= 0) return { good: 0, total: 0 };
      return { good: (usd * HOUR_MS) / ms > budget ? 0 : 1, total: 1 };
    }
    const rows = store.db
      .prepare<[string, number, number], { usd: number }>(`SELECT sum(usd) AS usd FROM usage_hour WHERE ${where} AND t >= ? AND t <= ? GROUP BY t HAVING sum(usd) > 0`)
      .all(arg, Math.floor((now - ms) / HOUR_MS), Math.floor(now / HOUR_MS));
    return { good: rows.filter((r) => r.usd <= budget).length, total: rows.length };
  });
}

/** Error budget of an objective at `now`: window attainment, budget left, burn rates. */
export function objectiveStatus(store: HistoryStore, scope: ObjectiveScope, o: Objective, now: number): BudgetStatus {
  return budgetStatus(o, objectiveSli(store, scope, o, now, o.windowMs), objectiveSli(store, scope, o, now, HOUR_MS));
}
