import { CommandError, UsageError, type CommandSpec } from "../shell/command.js";
import { parseFlags } from "../shell/args.js";
import { ConfigError, loadConfig, updateAgentSettings, type SloSettings } from "../slo/config.js";
import { parseFloatLike } from "../slo/number.js";
import { tildify } from "../util/home.js";
import { plainTable } from "../term/table.js";
import { CATALOG } from "./catalog.js";

export const BUDGET_USAGE = "usage: /agents budget [<agent> <usd>]";
const FULL_USAGE = "usage: /agents budget [<agent> [<usd>] [--progress-minutes N] [--error-rate PCT] [--provider]]";
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

const VALUE_FLAGS = new Set(["--progress-minutes", "--error-rate"]);
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
      { "progress-minutes": { type: "string" }, "error-rate": { type: "string" }, provider: { type: "boolean" } },
      BUDGET_USAGE,
    );
    const progressRaw = values["progress-minutes"] as string | undefined;
    const errorRaw = values["error-rate"] as string | undefined;
    if (positionals.length === 0) {
      if (progressRaw !== undefined || errorRaw !== undefined || values.provider) throw new UsageError(BUDGET_USAGE);
      return list(ctx.home, ctx.stdout);
    }
    const hasFlags = progressRaw !== undefined || errorRaw !== undefined;
    if (positionals.length > 2 || (positionals.length === 1 && !hasFlags)) throw new UsageError(BUDGET_USAGE);
    const name = positionals[0]!;
    if (!name.trim()) throw new UsageError("invalid agent: the name is empty");
    const patch: Partial<SloSettings> = {};
    if (positionals[1] !== undefined) patch.hourly_budget_usd = parseBudget(positionals[1]);
    if (progressRaw !== undefined) patch.progress_minutes = parseProgress(progressRaw);
    if (errorRaw !== undefined) patch.error_rate_pct = parseErrorRate(errorRaw);
    let path: string;
    try {
      path = await updateAgentSettings(ctx.home, name, patch, values.provider ? "providers" : "agents");
    } catch (err) {
      if (err instanceof ConfigError) throw new CommandError(`${err.message}\nagents.yaml was not changed`);
      throw new CommandError(`cannot write agents.yaml: ${(err as Error).message}`);
    }
    const parts: string[] = [];
    if (patch.hourly_budget_usd !== undefined) parts.push(`${money(patch.hourly_budget_usd)}/hr`);
    if (patch.progress_minutes !== undefined) parts.push(`progress ${patch.progress_minutes} min`);
    if (patch.error_rate_pct !== undefined) parts.push(`error rate ${patch.error_rate_pct}%`);
    ctx.stdout.write(`updated ${values.provider ? `provider ${name}` : name}: ${parts.join(", ")} -> ${tildify(path)}\n`);
    return 0;
  },
};

function list(home: string, out: NodeJS.WritableStream): number {
  let config;
  try {
    config = loadConfig(home);
  } catch (err) {
    if (err instanceof ConfigError) throw new CommandError(err.message);
    throw err;
  }
  const rows: string[][] = [];
  const add = (label: string, s: SloSettings) => {
    if (s.hourly_budget_usd === undefined && s.progress_minutes === undefined && s.error_rate_pct === undefined) return;
    rows.push([label, cell(s.hourly_budget_usd, money), cell(s.progress_minutes), cell(s.error_rate_pct, (n) => `${n}`)]);
  };
  for (const [name, s] of Object.entries(config.agents)) add(name, s);
  for (const [name, s] of Object.entries(config.providers)) add(`${name} (provider default)`, s);
  if (rows.length === 0) {
    out.write(NO_BUDGETS + "\n");
    return 0;
  }
  out.write(plainTable(["agent", "hourly $", "progress min", "error %"], rows));
  return 0;
}
