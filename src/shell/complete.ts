import type { CommandSpec } from "./command.js";
import type { CommandRegistry } from "./registry.js";

export const SHELL_BUILTINS = ["/help", "/exit", "/quit"] as const;

/** What a command's usage line says it takes, read from the usage text itself. */
export interface UsageSlots {
  /** Every `--flag` the usage names. */
  flags: string[];
  /** Flags that take a value, with the value's placeholder (`--on` → `other-pid`, `--tail` → `N`). */
  flagValues: Map<string, string>;
  /** Positional placeholders in order (`pid`, `name`). */
  positionals: string[];
  /** Words that choose a form of the command (`show`, `ack`, `resolve`), each with its own positionals. */
  verbs: Map<string, string[]>;
}

const FLAG = /--[a-z][a-z0-9-]*/g;
const FLAG_VALUE = /(--[a-z][a-z0-9-]*)[ =](<([a-z][a-z0-9-]*)>|([A-Z][A-Z0-9_]*))(?![a-z])/g;
const PLACEHOLDER = /^\[*<([a-z][a-z0-9-]*)>\]*$|^\[([a-z][a-z0-9-]*)\]$/;

export function usageSlots(spec: Pick<CommandSpec, "path" | "usage">): UsageSlots {
  const usage = spec.usage.split("\n")[0]!.replace(/^usage:\s*/i, "");
  const flags = [...new Set(usage.match(FLAG) ?? [])];
  const flagValues = new Map<string, string>();
  for (const m of usage.matchAll(FLAG_VALUE)) flagValues.set(m[1]!, m[3] ?? m[4]!);
  const path = "/" + spec.path.join(" ");
  let positionals: string[] = [];
  const verbs = new Map<string, string[]>();
  usage.split(/\s\|\s/).forEach((segment, i) => {
    const rest = segment.trim().startsWith(path) ? segment.trim().slice(path.length) : segment.trim();
    const tokens = rest.split(/\s+/).filter((t) => t !== "");
    const pos: string[] = [];
    for (let k = 0; k < tokens.length; k++) {
      const t = tokens[k]!;
      if (/--/.test(t)) {
        if (flagValues.has(t.replace(/^\[+/, "").replace(/[=\]].*$/, ""))) k++;
        continue;
      }
      const m = PLACEHOLDER.exec(t);
      if (m) pos.push(m[1] ?? m[2]!);
    }
    const verb = /^[a-z][a-z-]*$/.test(tokens[0] ?? "") ? tokens[0]! : undefined;
    if (verb && i > 0) verbs.set(verb, pos);
    else if (positionals.length === 0) positionals = pos;
  });
  return { flags, flagValues, positionals, verbs };
}

/** Values a placeholder can take right now (`pid` → the live fleet's pids), by placeholder name. */
export type CompletionSource = (placeholder: string) => Promise<string[]>;

const NONE: CompletionSource = async () => [];

function pick(candidates: readonly string[], fragment: string): string[] {
  const hits = [...new Set(candidates)].filter((c) => c.startsWith(fragment));
  return hits.length === 1 ? [hits[0]! + " "] : hits;
}

/**
 * Tab completion for the shell: `/ag` → `/agents`, `/agents b` → `/agents bus`, flags
 * (`/agents trace 42 --t` → `--tail`), verbs (`/agents incidents s` → `show`), and values
 * from `source` (`/agents trace <Tab>` → the agents' pids; `/agents incidents show <Tab>` →
 * open incident ids; `--on <Tab>` → pids). Returns readline's `[candidates, fragment]`.
 */
export async function completeLine(registry: CommandRegistry, line: string, source: CompletionSource = NONE): Promise<[string[], string]> {
  const trimmed = line.replace(/^\s+/, "");
  if (!trimmed.startsWith("/")) return [[], line];
  const endsWithSpace = /\s$/.test(trimmed);
  const words = trimmed.split(/\s+/).filter((w) => w !== "");
  const fragment = endsWithSpace ? "" : (words.pop() ?? "");
  if (words.length === 0) return [pick([...registry.childrenOf([]).map((w) => "/" + w), ...SHELL_BUILTINS], fragment), fragment];
  words[0] = words[0]!.slice(1);
  if (words[0] === "help") {
    const prefix = words.slice(1).map((w, i) => (i === 0 ? w.replace(/^\//, "") : w));
    const extra = prefix.length === 0 ? ["help", "exit", "quit"] : [];
    return [pick([...registry.childrenOf(prefix), ...extra], fragment), fragment];
  }
  const resolved = registry.resolve(words);
  const children = registry.childrenOf(words);
  if (!resolved) return [pick(children, fragment), fragment];
  const { spec, args } = resolved;
  const slots = usageSlots(spec);
  if (fragment.startsWith("-")) return [pick(slots.flags.filter((f) => !args.includes(f) || f === fragment), fragment), fragment];
  if (args.length === 0 && children.length > 0) return [pick(children, fragment), fragment];
  const prev = args[args.length - 1];
  const value = prev !== undefined ? slots.flagValues.get(prev) : undefined;
  if (value !== undefined) return [pick(await values(value, source), fragment), fragment];
  const positionals: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a.startsWith("-")) {
      if (slots.flagValues.has(a)) i++;
      continue;
    }
    positionals.push(a);
  }
  if (slots.verbs.size > 0) {
    if (positionals.length === 0) return [pick([...slots.verbs.keys()], fragment), fragment];
    const verbSlots = slots.verbs.get(positionals[0]!);
    const want = verbSlots?.[positionals.length - 1];
    return [want ? pick(await values(want, source), fragment) : [], fragment];
  }
  const want = slots.positionals[positionals.length];
  return [want ? pick(await values(want, source), fragment) : [], fragment];
}

async function values(placeholder: string, source: CompletionSource): Promise<string[]> {
  try {
    return await source(placeholder.endsWith("pid") ? "pid" : placeholder);
  } catch {
    return []; // completion is a convenience: a failing source offers nothing
  }
}
