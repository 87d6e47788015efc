import { stringify } from "yaml";
import { DEFAULT_WINDOW_MS } from "../fleet/signals.js";
import type { SloConfig, SloSettings } from "../slo/config.js";
import { DEFAULT_WINDOWS, MIN_REQUESTS_FOR_ERROR_RATE, SLO_NAMES, type SloName } from "../slo/evaluate.js";
import { I, prometheusName } from "./instruments.js";
import { BURN_ALERT_PAIRS, burnThreshold, MIN_EVENTS_FOR_BURN, objectivesOf, OBJECTIVE_KINDS, windowLabel, type BurnAlertPair, type Objective, type ObjectiveKind } from "../slo/objectives.js";

/**
 * Prometheus alert rules generated from the same SLO definitions the watchdog evaluates
 * (agents.yaml thresholds, the windows and the minimum request count of
 * `slo/evaluate.ts`, `>=` like the evaluators), over the counters and gauges of the metric
 * model, so an alert fires when the watchdog would open an incident. Each SLO the
 * watchdog knows has a builder in SLO_RULES; a new SLO gets its rule there.
 */
export const DEFAULT_JOB = "opensre-agents";

/** The labels that identify one agent on either path (scrape: job/instance from the scrape; OTLP: from service.name/service.instance.id). */
const BY = "job, instance, opensre_agent_name, opensre_agent_provider, process_pid";

const N = {
  cost: prometheusName(I.cost),
  requests: prometheusName(I.requests),
  errors: prometheusName(I.errors),
  lastOutput: prometheusName(I.lastOutput),
  status: prometheusName(I.agentStatus),
  up: "up",
  exportFailing: prometheusName(I.exportFailing),
};

/** `5m`, `1h`: a PromQL duration of whole minutes or hours. */
function span(ms: number): string {
  const m = Math.round(ms / 60_000);
  return m % 60 === 0 ? `${m / 60}h` : `${m}m`;
}

const trim = (n: number) => String(Number(n.toFixed(6)));

export interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

type Scope = { kind: "agent" | "provider"; key: string; selector: string };
type Builder = (threshold: number, scope: Scope) => Omit<AlertRule, "labels"> & { labels?: Record<string, string> };

const who = "{{ $labels.opensre_agent_name }} (pid {{ $labels.process_pid }}) on {{ $labels.instance }}";

/**
 * One builder per SLO the watchdog evaluates (`slo/evaluate.ts`), keyed by its agents.yaml setting.
 * The windowed objectives (`success`, `spend`) have theirs in OBJECTIVE_RULES.
 */
export const SLO_RULES: Record<Exclude<SloName, "conflict" | ObjectiveKind>, { setting: keyof SloSettings; build: Builder }> = {
  progress: {
    setting: "progress_minutes",
    build: (minutes, s) => ({
      alert: "AgentNoProgress",
      expr: `(time() - ${N.lastOutput}{${s.selector}}) >= ${trim(minutes * 60)}\nunless on (${BY}) (${N.status}{${s.selector}, opensre_agent_status="waiting"} == 1)`,
      annotations: {
        summary: `${who}: no progress for {{ $value | humanizeDuration }} (threshold: ${trim(minutes)}m)`,
        description: "No output while alive and not waiting for its user, as the watchdog's progress SLO; see `opensre agents incidents` on that machine.",
      },
    }),
  },
  cost: {
    setting: "hourly_budget_usd",
    build: (budget, s) => {
      const fast = span(DEFAULT_WINDOW_MS);
      const perHour = trim(3_600_000 / DEFAULT_WINDOW_MS);
      return {
        alert: "AgentCostBudgetBurn",
        expr: `sum by (${BY}) (increase(${N.cost}{${s.selector}}[${fast}])) * ${perHour} >= ${trim(budget)}\nand\nsum by (${BY}) (increase(${N.cost}{${s.selector}}[1h])) >= ${trim(budget)}`,
        annotations: {
          summary: `${who}: \${{ $value | printf "%.2f" }}/h projected, over its \$${budget.toFixed(2)}/h budget`,
          description: `Projected spend over the last ${fast} and actual spend over the last hour both reach the budget (multi-window burn rate, as the watchdog's cost SLO).`,
        },
      };
    },
  },
  errors: {
    setting: "error_rate_pct",
    build: (pct, s) => {
      // the requests counter counts every request, failed or not (errors are a subset of it), so
      // errors / requests is the views' errors / (successful requests + errors)
      const ratio = (w: string) => `sum by (${BY}) (increase(${N.errors}{${s.selector}}[${w}]))\n  / sum by (${BY}) (increase(${N.requests}{${s.selector}}[${w}]))`;
      const fast = span(DEFAULT_WINDOWS.fastMs);
      const slow = span(DEFAULT_WINDOWS.slowMs);
      return {
        alert: "AgentErrorRateBurn",
        expr: `(\n  ${ratio(fast)}\n) >= ${trim(pct / 100)}\nand\n(\n  ${ratio(slow)}\n) >= ${trim(pct / 100)}\nand\nsum by (${BY}) (increase(${N.requests}{${s.selector}}[${slow}])) >= ${MIN_REQUESTS_FOR_ERROR_RATE}`,
        annotations: {
          summary: `${who}: API error rate {{ $value | humanizePercentage }} over ${fast} and ${slow} (threshold: ${pct.toFixed(1)}%)`,
          description: `Both windows at or over the threshold, with at least ${MIN_REQUESTS_FOR_ERROR_RATE} requests in the ${slow} (as the watchdog's errors SLO).`,
        },
      };
    },
  },
};

/** An objective counts every session of the agent name (history does), so its rules sum over pids. */
const BY_OBJECTIVE = "job, instance, opensre_agent_name, opensre_agent_provider";

const pct = (n: number) => `${+n.toFixed(3)}%`;

/**
 * One rule per burn-rate pair of BURN_ALERT_PAIRS (the SRE workbook's multiwindow,
 * multi-burn-rate alerts, as the watchdog's `firingBurnAlerts`): it fires when both the long
 * and the short window burn the error budget at the pair's threshold or faster,
 * `burnThreshold(pair, window)`; fast pairs page (critical), slow ones are tickets (warning).
 * A pair whose threshold no burn rate can reach (the bad share would have to pass 100 %) has
 * no rule. null: this objective kind has no rule for this pair.
 */
export const OBJECTIVE_RULES: Record<ObjectiveKind, (o: Objective, pair: BurnAlertPair, s: Scope) => Omit<AlertRule, "labels"> | null> = {
  // success: an API error is a bad event, a request a good one (total = requests + errors)
  success: (o, pair, s) => {
    const allowed = 1 - o.targetPct / 100;
    const threshold = burnThreshold(pair, o.windowMs);
    const ratio = threshold * allowed; // the bad share that burns at the threshold
    if (ratio > 1) return null;
    const [long, short] = [span(pair.longMs), span(pair.shortMs)];
    const sum = (metric: string, w: string) => `sum by (${BY_OBJECTIVE}) (increase(${metric}{${s.selector}}[${w}]))`;
    const bad = (w: string) => `${sum(N.errors, w)}\n  / (${sum(N.requests, w)} + ${sum(N.errors, w)})`;
    return {
      alert: "AgentSuccessBudgetBurn",
      expr:
        `(\n  ${bad(long)}\n) / ${trim(allowed)} >= ${trim(threshold)}\nand\n(\n  ${bad(short)}\n) / ${trim(allowed)} >= ${trim(threshold)}\n` +
        `and\n${sum(N.requests, long)} + ${sum(N.errors, long)} >= ${MIN_EVENTS_FOR_BURN}`,
      annotations: {
        summary: `{{ $labels.opensre_agent_name }} on {{ $labels.instance }}: success objective ${pct(o.targetPct)} over ${windowLabel(o)} burning its error budget {{ $value | printf "%.1f" }}× over ${long} (${pair.name} burn, threshold ${trim(+threshold.toFixed(2))}×)`,
        description: `Both the ${long} and the ${short} window spend the error budget at ${trim(+threshold.toFixed(2))}× or faster (${trim(pair.budgetShare * 100)}% of the ${windowLabel(o)} budget within ${long}), with at least ${MIN_EVENTS_FOR_BURN} requests in the ${long}; as the watchdog's success objective.`,
      },
    };
  },
  // spend: a time-slice objective; an hour is bad when its spend is over the hourly budget.
  // The long window counts clock hours (a subquery at whole hours), a window of an hour or
  // less is one slice, judged by its spend projected to an hour; a bad slice burns 1/allowed.
  spend: (o, pair, s) => {
    const allowed = 1 - o.targetPct / 100;
    const threshold = burnThreshold(pair, o.windowMs);
    if (1 / allowed < threshold) return null; // one bad slice cannot burn that fast
    const budget = o.hourlyBudgetUsd!;
    const [long, short] = [span(pair.longMs), span(pair.shortMs)];
    const spent = (w: string) => `sum by (${BY_OBJECTIVE}) (increase(${N.cost}{${s.selector}}[${w}]))`;
    const slice = (ms: number) => `${spent(span(ms))}${ms === 3_600_000 ? "" : ` * ${trim(3_600_000 / ms)}`} > ${trim(budget)}`;
    const longExpr =
      pair.longMs <= 3_600_000
        ? slice(pair.longMs)
        : `(\n  count_over_time((${spent("1h")} > ${trim(budget)})[${long}:1h])\n  / count_over_time((${spent("1h")} > 0)[${long}:1h])\n) / ${trim(allowed)} >= ${trim(threshold)}`;
    return {
      alert: "AgentSpendBudgetBurn",
      expr: `${longExpr}\nand\n${slice(pair.shortMs)}`,
      annotations: {
        summary: `{{ $labels.opensre_agent_name }} on {{ $labels.instance }}: spend objective (${pct(o.targetPct)} of hours within \$${budget.toFixed(2)}/h over ${windowLabel(o)}) burning its error budget over ${long} (${pair.name} burn, threshold ${trim(+threshold.toFixed(2))}×)`,
        description: `Hours over the budget in the last ${long} spend the error budget at ${trim(+threshold.toFixed(2))}× or faster, and the last ${short} projects over \$${budget.toFixed(2)}/h; as the watchdog's spend objective.`,
      },
    };
  },
};

function objectiveRules(config: SloConfig, jobSel: string): AlertRule[] {
  const out: AlertRule[] = [];
  const keyOf: Record<ObjectiveKind, keyof SloSettings> = { success: "success_objective_pct", spend: "spend_objective_pct" };
  for (const kind of OBJECTIVE_KINDS) {
    const emit = (settings: SloSettings, scope: Scope) => {
      for (const o of objectivesOf(settings).filter((x) => x.kind === kind)) {
        for (const pair of BURN_ALERT_PAIRS) {
          const r = OBJECTIVE_RULES[kind](o, pair, scope);
          if (r) out.push({ alert: r.alert, expr: r.expr, labels: { severity: pair.name === "fast" ? "critical" : "warning", slo: kind, burn: pair.name, [`opensre_${scope.kind}`]: scope.key }, annotations: r.annotations });
        }
      }
    };
    for (const [agent, s] of Object.entries(config.agents)) emit(s, { kind: "agent", key: agent, selector: `${jobSel}, opensre_agent_name=${quote(agent)}` });
    for (const [provider, s] of Object.entries(config.providers)) {
      const own = Object.entries(config.agents).filter(([, a]) => a[keyOf[kind]] !== undefined).map(([n]) => n);
      const except = own.length ? `, opensre_agent_name!~${quote(regexOf(own))}` : "";
      emit(s, { kind: "provider", key: provider, selector: `${jobSel}, opensre_agent_provider=${quote(provider)}${except}` });
    }
  }
  return out;
}

function quote(v: string): string {
  return JSON.stringify(v);
}
function regexOf(values: string[]): string {
  return values.map((v) => v.replace(/[\\.^$|?*+()[\]{}]/g, "\\$&")).join("|");
}

/** Every rule of the SLOs in `config`, plus the health of opensre itself. `job` is the scrape job (or OTLP service.name) of opensre. */
export function alertRules(config: SloConfig, opts: { job?: string } = {}): { groups: Array<{ name: string; rules: AlertRule[] }> } {
  const job = opts.job ?? DEFAULT_JOB;
  const jobSel = `job=${quote(job)}`;
  const slo: AlertRule[] = [];
  for (const name of SLO_NAMES) {
    if (name === "conflict") continue;
    const def = SLO_RULES[name];
    const emit = (settings: SloSettings, scope: Scope) => {
      const v = settings[def.setting];
      if (typeof v !== "number") return;
      if (name === "progress" && !(v > 0)) return; // 0 switches the progress SLO off
      const r = def.build(v, scope);
      slo.push({ alert: r.alert, expr: r.expr, ...(r.for ? { for: r.for } : {}), labels: { severity: "warning", slo: name, [`opensre_${scope.kind}`]: scope.key, ...r.labels }, annotations: r.annotations });
    };
    for (const [agent, s] of Object.entries(config.agents)) emit(s, { kind: "agent", key: agent, selector: `${jobSel}, opensre_agent_name=${quote(agent)}` });
    for (const [provider, s] of Object.entries(config.providers)) {
      // an agent's own setting overrides its provider's (settingsFor)
      const own = Object.entries(config.agents).filter(([, a]) => a[def.setting] !== undefined).map(([n]) => n);
      const except = own.length ? `, opensre_agent_name!~${quote(regexOf(own))}` : "";
      emit(s, { kind: "provider", key: provider, selector: `${jobSel}, opensre_agent_provider=${quote(provider)}${except}` });
    }
  }
  slo.push(...objectiveRules(config, jobSel));
  const health: AlertRule[] = [
    {
      alert: "OpensreWatchdogDown",
      expr: `up{${jobSel}} == 0`,
      for: "5m",
      labels: { severity: "warning" },
      annotations: { summary: `opensre agents watch on {{ $labels.instance }} cannot be scraped (job ${job})` },
    },
    {
      alert: "OpensreOtlpPushFailing",
      expr: `${N.exportFailing}{${jobSel}} == 1`,
      for: "10m",
      labels: { severity: "warning" },
      annotations: { summary: "opensre on {{ $labels.instance }} cannot push {{ $labels.signal }} to its OTLP endpoint (see its stderr)" },
    },
  ];
  return { groups: [...(slo.length ? [{ name: "opensre-agents-slo", rules: slo }] : []), { name: "opensre-agents-health", rules: health }] };
}

export function alertRulesYaml(config: SloConfig, opts: { job?: string } = {}, header = ""): string {
  return header + stringify(alertRules(config, opts), { lineWidth: 0, blockQuote: "literal" });
}
