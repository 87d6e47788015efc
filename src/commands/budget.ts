import { CommandError, UsageError, type CommandContext, type CommandSpec } from "../shell/command.js";
import type { ObjectiveScope } from "../history/objectives.js";
import { checkWindow, describeObjective, objectivesOf, windowLabel, type BudgetStatus, type Objective } from "../slo/objectives.js";
import { parseFlags } from "../shell/args.js";
import { ConfigError, loadConfig, updateAgentSettings, type SloSettings } from "../slo/config.js";
import { parseFloatLike } from "../slo/number.js";
import { tildify } from "../util/home.js";
import { plainTable } from "../term/table.js";
import { CATALOG } from "./catalog.js";
import { escapeText } from "../term/sanitize.js";

export const BUDGET_USAGE = "usage: /agents budget [<agent> <usd>]";
export const NO_BUDGETS = "no per-agent budgets configured.  use /agents budget <agent> <usd> to set one.";

/** `$5.00`; sub-cent budgets keep their digits. */
function money(n: number): string {
  return n >= 0.01 ? `$${n.toFixed(2)}` : `$${n}`;
}

function cell(n: number | undefined, f: (n: number) => string = String): string {
  return n === undefined ? "-" : f(n);
}

/** The three inputs, validated; each message is the exact text the user sees. */
export function parseBudget(raw: string): number {
  const n = parseFloatLike(raw);
  if (n === undefined) throw new UsageError(`invalid budget: ${raw} is not a number`);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError("invalid budget: must be a positive finite number");
  return n;
}

function parseProgress(raw: string): number {
  const n = parseFloatLike(raw);
  if (n === undefined) throw new UsageError(`invalid --progress-minutes: ${raw} is not a number`);
  if (!Number.isFinite(n) || n < 0) throw new UsageError("invalid --progress-minutes: must be a finite number ≥ 0");
  return n;
}

function parseErrorRate(raw: string): number {
  const n = parseFloatLike(raw);
  if (n === undefined) throw new UsageError(`invalid --error-rate: ${raw} is not a number`);
  if (!Number.isFinite(n) || n < 0 || n > 100) throw new UsageError("invalid --error-rate: must be a percentage between 0 and 100");
  return n;
}

function parseObjective(raw: string, flag: string): number {
  const n = parseFloatLike(raw);
  if (n === undefined) throw new UsageError(`invalid ${flag}: ${raw} is not a number`);
  if (!Number.isFinite(n) || n <= 0 || n >= 100) throw new UsageError(`invalid ${flag}: must be a percentage between 0 and 100 (exclusive), such as 99.5`);
  return n;
}

function parseWindow(raw: string): string {
  const problem = checkWindow(raw);
  if (problem) throw new UsageError(`invalid --window: ${problem.replace(/^slo_window must be /, "must be ")}`);
  return raw.trim();
}

const VALUE_FLAGS = new Set(["--progress-minutes", "--error-rate", "--success", "--spend"]);
const NEGATIVE = /^-(\d|\.\d|inf$|infinity$|nan$)/i;

/**
 * `-5` or `-inf` is a (bad) number, not a flag: keep it as the value it was meant to be,
 * so the user gets the range message rather than "unknown option".
 */
function numbersAsValues(args: readonly string[]): string[] {
  const out: string[] = [];
  const tail: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const next = args[i + 1];
    if (a === "--") {
      tail.push(...args.slice(i + 1));
      break;
    }
    if (VALUE_FLAGS.has(a) && next !== undefined && NEGATIVE.test(next)) {
      out.push(`${a}=${next}`);
      i++;
    } else if (NEGATIVE.test(a)) tail.push(a);
    else out.push(a);
  }
  return tail.length ? [...out, "--", ...tail] : out;
}

export const budgetCommand: CommandSpec = {
  ...CATALOG.budget,
  async run(args, ctx) {
    const { values, positionals } = parseFlags(
      numbersAsValues(args),
      {
        "progress-minutes": { type: "string" },
        "error-rate": { type: "string" },
        success: { type: "string" },
        spend: { type: "string" },
        window: { type: "string" },
        provider: { type: "boolean" },
      },
      BUDGET_USAGE,
    );
    const progressRaw = values["progress-minutes"] as string | undefined;
    const errorRaw = values["error-rate"] as string | undefined;
    const successRaw = values.success as string | undefined;
    const spendRaw = values.spend as string | undefined;
    const windowRaw = values.window as string | undefined;
    const hasFlags = progressRaw !== undefined || errorRaw !== undefined || successRaw !== undefined || spendRaw !== undefined || windowRaw !== undefined;
    if (positionals.length === 0) {
      if (hasFlags || values.provider) throw new UsageError(BUDGET_USAGE);
      return list(ctx);
    }
    if (positionals.length > 2 || (positionals.length === 1 && !hasFlags)) throw new UsageError(BUDGET_USAGE);
    const name = positionals[0]!;
    if (!name.trim()) throw new UsageError("invalid agent: the name is empty");
    const patch: Partial<SloSettings> = {};
    if (positionals[1] !== undefined) patch.hourly_budget_usd = parseBudget(positionals[1]);
    if (progressRaw !== undefined) patch.progress_minutes = parseProgress(progressRaw);
    if (errorRaw !== undefined) patch.error_rate_pct = parseErrorRate(errorRaw);
    if (successRaw !== undefined) patch.success_objective_pct = parseObjective(successRaw, "--success");
    if (spendRaw !== undefined) patch.spend_objective_pct = parseObjective(spendRaw, "--spend");
    if (windowRaw !== undefined) patch.slo_window = parseWindow(windowRaw);
    let path: string;
    try {
      path = await updateAgentSettings(ctx.home, name, patch, values.provider ? "providers" : "agents");
    } catch (err) {
      if (err instanceof ConfigError) throw new CommandError(`${escapeText(err.message)}\nagents.yaml was not changed`);
      throw new CommandError(`cannot write agents.yaml: ${escapeText((err as Error).message)}`);
    }
    const parts: string[] = [];
    if (patch.hourly_budget_usd !== undefined) parts.push(`${money(patch.hourly_budget_usd)}/hr`);
    if (patch.progress_minutes !== undefined) parts.push(`progress ${patch.progress_minutes} min`);
    if (patch.error_rate_pct !== undefined) parts.push(`error rate ${patch.error_rate_pct}%`);
    if (patch.success_objective_pct !== undefined) parts.push(`success objective ${patch.success_objective_pct}%`);
    if (patch.spend_objective_pct !== undefined) parts.push(`spend objective ${patch.spend_objective_pct}% of hours`);
    if (patch.slo_window !== undefined) parts.push(`window ${patch.slo_window}`);
    ctx.stdout.write(`updated ${values.provider ? "provider " : ""}${escapeText(name)}: ${parts.join(", ")} -> ${escapeText(tildify(path))}\n`);
    return 0;
  },
};

async function list(ctx: CommandContext): Promise<number> {
  const out = ctx.stdout;
  let config;
  try {
    config = loadConfig(ctx.home);
  } catch (err) {
    if (err instanceof ConfigError) throw new CommandError(escapeText(err.message));
    throw err;
  }
  const rows: string[][] = [];
  const scoped: Array<{ label: string; scope: ObjectiveScope; objectives: Objective[]; missingBudget: boolean }> = [];
  const add = (label: string, s: SloSettings, scope: ObjectiveScope) => {
    if (s.hourly_budget_usd !== undefined || s.progress_minutes !== undefined || s.error_rate_pct !== undefined) {
      rows.push([label, cell(s.hourly_budget_usd, money), cell(s.progress_minutes), cell(s.error_rate_pct, (n) => `${n}`)]);
    }
    const objectives = objectivesOf(s);
    const missingBudget = s.spend_objective_pct !== undefined && s.hourly_budget_usd === undefined;
    if (objectives.length || missingBudget) scoped.push({ label, scope, objectives, missingBudget });
  };
  for (const [name, s] of Object.entries(config.agents)) add(name, s, { agent: name });
  for (const [name, s] of Object.entries(config.providers)) add(`${name} (provider default)`, s, { provider: name });
  if (rows.length === 0 && scoped.length === 0) {
    out.write(NO_BUDGETS + "\n");
    return 0;
  }
  if (rows.length) out.write(plainTable(["agent", "hourly $", "progress min", "error %"], rows));
  if (scoped.length) await listObjectives(ctx, scoped, rows.length > 0);
  return 0;
}

/**
 * The objectives with their error budget over the window, read from the history store:
 * attainment, budget left and burn rate over the last hour and the window. Without the
 * store, the objectives are listed with the reason their figures are missing.
 */
async function listObjectives(ctx: CommandContext, scoped: Array<{ label: string; scope: ObjectiveScope; objectives: Objective[]; missingBudget: boolean }>, gap: boolean): Promise<void> {
  const now = Date.now();
  let status: ((scope: ObjectiveScope, o: Objective) => BudgetStatus) | null = null;
  let problem: string | null = null;
  let close = () => undefined as void;
  try {
    const { openHistory, updateHistory } = await import("./report.js");
    const store = await openHistory(ctx);
    close = () => store.close();
    await updateHistory(store, ctx);
    const { objectiveStatus } = await import("../history/objectives.js");
    status = (scope, o) => objectiveStatus(store, scope, o, now);
  } catch (err) {
    if (!(err instanceof CommandError)) throw err;
    problem = err.message.split("\n")[0]!;
  }
  try {
    const rows: string[][] = [];
    for (const { label, scope, objectives, missingBudget } of scoped) {
      for (const o of objectives) {
        const s = status?.(scope, o);
        const pct = (n: number | null | undefined) => (n === null || n === undefined ? "-" : `${n.toFixed(1)}%`);
        const burn = (n: number | null | undefined) => (n === null || n === undefined ? "-" : `${n.toFixed(1)}×`);
        rows.push([label, describeObjective(o), windowLabel(o), pct(s?.attainmentPct), pct(s?.budgetRemainingPct), burn(s?.burnRate1h), burn(s?.burnRateWindow)]);
      }
      if (missingBudget) rows.push([label, "spend objective needs hourly_budget_usd", "-", "-", "-", "-", "-"]);
    }
    if (gap) ctx.stdout.write("\n");
    ctx.stdout.write(plainTable(["agent", "objective", "window", "attained", "budget left", "burn 1h", "burn window"], rows));
    if (problem) ctx.stdout.write(`figures need the history store: ${problem}\n`);
  } finally {
    close();
  }
}
