import { parseArgs, type ParseArgsConfig } from "node:util";
import { UsageError } from "./command.js";
import { parsePid } from "../util/pid.js";
import { escapeText } from "../term/sanitize.js";

type Options = NonNullable<ParseArgsConfig["options"]>;

/**
 * Strict flag parsing on top of node's own `util.parseArgs`: an unknown flag or a
 * missing value becomes a UsageError that names the flag and shows the usage line.
 */
export interface ParsedFlags {
  values: Record<string, string | boolean | string[] | boolean[] | undefined>;
  positionals: string[];
}

/** A word that is a negative number (`-5`, `-0.5`): a value, never a flag. */
const NEGATIVE = /^-\d+(\.\d+)?$/;

export function parseFlags(args: string[], options: Options, usage: string, allowPositionals = true): ParsedFlags {
  // util.parseArgs reads `-5` as an unknown short flag, and `--tail -1` as an "ambiguous" value:
  // a negative number is a value of the flag before it, or a positional the command then judges.
  const words: string[] = [];
  const negatives = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const flag = /^--([^=]+)$/.exec(a)?.[1];
    const next = args[i + 1];
    if (flag && options[flag]?.type === "string" && next !== undefined && NEGATIVE.test(next)) {
      words.push(`--${flag}=${next}`);
      i++;
    } else if (NEGATIVE.test(a)) {
      const key = `\u0000negative-${negatives.size}`;
      negatives.set(key, a);
      words.push(key);
    } else words.push(a);
  }
  try {
    const parsed = parseArgs({ args: words, options, allowPositionals, strict: true });
    return { values: parsed.values as ParsedFlags["values"], positionals: parsed.positionals.map((p) => negatives.get(p) ?? p) };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL") {
      const word = /'([^']*)'/.exec((err as Error).message)?.[1] ?? "";
      throw new UsageError(`unexpected argument: ${negatives.get(word) ?? word}\n${usage}`);
    }
    const msg = (err as Error).message.replace(/\. To specify a positional argument.*$/s, "");
    throw new UsageError(`${msg}\n${usage}`);
  }
}

/** Parse a non-negative integer flag value, or throw a UsageError naming the flag. */
export function intFlag(raw: string | undefined, flag: string, min = 0): number | undefined {
  if (raw === undefined) return undefined;
  if (!/^-?[0-9]+$/.test(raw)) throw new UsageError(`invalid ${flag}: ${raw} is not an integer`);
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < min) throw new UsageError(`invalid ${flag}: must be an integer ≥ ${min}`);
  return n;
}

/**
 * A pid argument: `invalid pid: 12x is not an integer` for words, and for integers that
 * cannot be a process id (`0`, `-5`) `invalid pid: 0 is not a process id (pids start at 1)`.
 * `what` names the argument in the message (`other-pid`).
 */
export function pidArg(raw: string, what = "pid"): number {
  const pid = parsePid(raw);
  if (pid !== undefined) return pid;
  if (/^-?[0-9]+$/.test(raw)) throw new UsageError(`invalid ${what}: ${raw} is not a process id (pids start at 1)`);
  throw new UsageError(`invalid ${what}: ${escapeText(raw)} is not an integer`);
}
