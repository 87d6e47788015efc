import { parseArgs, type ParseArgsConfig } from "node:util";
import { UsageError } from "./command.js";

type Options = NonNullable<ParseArgsConfig["options"]>;

/**
 * Strict flag parsing on top of node's own `util.parseArgs`: an unknown flag or a
 * missing value becomes a UsageError that names the flag and shows the usage line.
 */
export interface ParsedFlags {
  values: Record<string, string | boolean | string[] | boolean[] | undefined>;
  positionals: string[];
}

export function parseFlags(args: string[], options: Options, usage: string, allowPositionals = true): ParsedFlags {
  try {
    const parsed = parseArgs({ args, options, allowPositionals, strict: true });
    return { values: parsed.values as ParsedFlags["values"], positionals: parsed.positionals };
  } catch (err) {
    const msg = (err as Error).message.replace(/\. To specify a positional argument.*$/s, "");
    throw new UsageError(`${msg}\n${usage}`);
  }
}

/** Parse a non-negative integer flag value, or throw a UsageError naming the flag. */
export function intFlag(raw: string | undefined, flag: string, min = 0): number | undefined {
  if (raw === undefined) return undefined;
  if (!/^[0-9]+$/.test(raw)) throw new UsageError(`invalid ${flag}: ${raw} is not an integer`);
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < min) throw new UsageError(`invalid ${flag}: must be an integer ≥ ${min}`);
  return n;
}
