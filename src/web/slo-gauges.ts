import type { FleetAgent } from "../fleet/model.js";
import { settingsFor, type SloConfig, type SloSettings } from "../slo/config.js";
import { DEFAULT_WINDOWS, evaluateAgent, sloTarget, type SloFinding } from "../slo/evaluate.js";
import { evaluateObjectives } from "../slo/burn.js";
import { budgetStatus, describeObjective, objectivesOf, windowLabel, type Objective, type Sli } from "../slo/objectives.js";
import type { SloGauge } from "./protocol.js";
import { liveKey } from "./live-series.js";

function errorRate(a: FleetAgent, from: number): { pct: number; n: number } {
  let n = 0;
  let errors = 0;
  for (const r of a.transcript?.recent ?? []) {
    if (r.t < from) continue;
    n++;
    if (r.error) errors++;
  }
  return { pct: n ? (100 * errors) / n : 0, n };
}

/**
 * The numbers behind one finding of the SLO evaluators (the watchdog's own, `slo/evaluate.ts`):
 * - cost: the hour's spend against the hourly budget; burn = projected $/h over the budget;
 * - errors: the slow window's error rate against the threshold; burn = the fast window's
 *   error rate over the threshold (the burn rate of an error-rate objective);
 * - progress: the quiet time against the allowed quiet time (no burn: it is not a rate).
 */
function gauge(a: FleetAgent, f: SloFinding, s: SloSettings, now: number): Pick<SloGauge, "usedPct" | "burn"> {
  const t = a.transcript;
  switch (f.slo) {
    case "cost": {
      const budget = s.hourly_budget_usd!;
      return { usedPct: t?.spendLastHourUsd == null ? null : (100 * t.spendLastHourUsd) / budget, burn: t?.usdPerHour == null ? null : t.usdPerHour / budget };
    }
    case "errors": {
      const limit = s.error_rate_pct!;
      if (!(limit > 0)) return { usedPct: null, burn: null };
      const slow = errorRate(a, now - DEFAULT_WINDOWS.slowMs);
      const fast = errorRate(a, now - DEFAULT_WINDOWS.fastMs);
      return { usedPct: slow.n ? (100 * slow.pct) / limit : null, burn: fast.n ? fast.pct / limit : null };
    }
    case "progress": {
      const since = a.lastOutputAt ?? a.startTime;
      if (since === null || f.detail === "waiting for the user") return { usedPct: f.detail === "waiting for the user" ? 0 : null, burn: null };
      return { usedPct: (100 * (now - since)) / (s.progress_minutes! * 60_000), burn: null };
    }
    default:
      return { usedPct: null, burn: null };
  }
}

/** An objective's counts over the last `ms` for the sessions that ran as `agent` (from the history store). */
export type ObjectiveCounts = (agent: string, o: Objective, ms: number) => Sli;

const HOUR_MS = 3_600_000;

/**
 * The windowed objectives of an agent (success, spend) from the history store, judged as the
 * watchdog judges them (`evaluateObjectives`: breached while a multiwindow burn-rate alert
 * fires): the gauge is the share of the window's error budget used, the burn the last hour's.
 */
function objectiveGauges(a: FleetAgent, objectives: readonly Objective[], counts: ObjectiveCounts): SloGauge[] {
  const sli = (o: Objective, ms: number) => counts(a.name, o, ms);
  const findings = evaluateObjectives(objectives, sli);
  return objectives.map((o, i) => {
    const st = budgetStatus(o, sli(o, o.windowMs), sli(o, HOUR_MS));
    const f = findings[i]!;
    return {
      key: liveKey(a),
      agent: a.name,
      pid: a.pid,
      slo: o.kind,
      target: `${describeObjective(o)} over ${windowLabel(o)}`,
      usedPct: st.budgetRemainingPct === null ? null : 100 - st.budgetRemainingPct,
      burn: st.burnRate1h,
      breached: f.breached,
      detail: f.detail,
      window: { label: windowLabel(o), budgetLeftPct: st.budgetRemainingPct, burnRate: st.burnRateWindow },
    };
  });
}

/**
 * Every SLO that applies to each live agent, evaluated now, with its gauge; the windowed
 * objectives too when the history store can count them (`counts`), as `agents budget` shows them.
 */
export function sloGauges(agents: readonly FleetAgent[], config: SloConfig, now: number, counts: ObjectiveCounts | null = null): SloGauge[] {
  const out: SloGauge[] = [];
  for (const a of agents) {
    const s = settingsFor(config, a.name, a.provider);
    for (const f of evaluateAgent(a, s, now)) {
      out.push({ key: liveKey(a), agent: a.name, pid: a.pid, slo: f.slo, target: sloTarget(f.slo, s), breached: f.breached, detail: f.detail, ...gauge(a, f, s, now) });
    }
    const objectives = objectivesOf(s);
    if (counts && objectives.length) out.push(...objectiveGauges(a, objectives, counts));
  }
  return out;
}
