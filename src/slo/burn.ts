import type { SloFinding } from "./evaluate.js";
import { formatDuration } from "../util/duration.js";
import { budgetStatus, describeObjective, firingBurnAlerts, windowLabel, BURN_ALERT_PAIRS, burnRate, burnThreshold, type Objective, type Sli } from "./objectives.js";

/**
 * The watchdog's multiwindow, multi-burn-rate alerts for windowed objectives: a finding per
 * objective, breached while a fast (1 h and 5 min) or slow (6 h and 30 min) pair burns the
 * error budget faster than its threshold. `sli(o, ms)` gives the objective's counts over the
 * last `ms` (from the history store). Pure: a fake `sli` tests it.
 */
export function evaluateObjectives(objectives: readonly Objective[], sli: (o: Objective, ms: number) => Sli): SloFinding[] {
  const out: SloFinding[] = [];
  for (const o of objectives) {
    const cache = new Map<number, Sli>();
    const counts = (ms: number) => {
      let c = cache.get(ms);
      if (!c) cache.set(ms, (c = sli(o, ms)));
      return c;
    };
    const firing = firingBurnAlerts(o, counts);
    const status = budgetStatus(o, counts(o.windowMs), counts(BURN_ALERT_PAIRS[0]!.longMs));
    const left = status.budgetRemainingPct === null ? "no events in the window yet" : `${status.budgetRemainingPct.toFixed(0)}% of the ${windowLabel(o)} error budget left`;
    const what = `${describeObjective(o)} over ${windowLabel(o)}`;
    if (firing.length) {
      const f = firing[0]!; // the fast pair first: it is the more urgent
      out.push({
        slo: o.kind,
        breached: true,
        detail: `${what}: burning the error budget ${f.longBurn.toFixed(1)}× over ${formatDuration(f.pair.longMs)} and ${f.shortBurn.toFixed(1)}× over ${formatDuration(f.pair.shortMs)} (threshold ${+f.threshold.toFixed(2)}×); ${left}`,
      });
    } else {
      const b = burnRate(o, counts(BURN_ALERT_PAIRS[0]!.longMs));
      out.push({ slo: o.kind, breached: false, detail: `${what}: burn rate ${b === null ? "-" : `${b.toFixed(1)}×`} over 1h (alerts at ${+burnThreshold(BURN_ALERT_PAIRS[0]!, o.windowMs).toFixed(2)}×); ${left}` });
    }
  }
  return out;
}
