import { CommandError, UsageError, type CommandContext, type CommandSpec } from "./command.js";
import type { CommandRegistry } from "./registry.js";
import { editDistance } from "../slo/did-you-mean.js";

/**
 * `unknown command: /agents frobnicate  (try /help)` in the shell, the words as typed after
 * `opensre` on the command line; with the closest command when one is a likely typo.
 */
export const UNKNOWN_COMMAND = (words: string, suggestion?: string, interactive = true) =>
  `unknown command: ${interactive ? "/" : ""}${words}  (${suggestion ? `did you mean ${interactive ? "/" : "opensre "}${suggestion}? ` : ""}try ${interactive ? "/help" : "opensre --help"})`;

/** Commands of the shell itself, not in the registry. */
export const BUILTINS: Record<string, { usage: string; summary: string }> = {
  help: { usage: "usage: /help [command]", summary: "list every command, or show one command's usage and subcommands (/help agents bus)" },
  exit: { usage: "usage: /exit", summary: "leave the shell (also /quit, or Ctrl+D)" },
  quit: { usage: "usage: /quit", summary: "leave the shell (also /exit, or Ctrl+D)" },
};

/** The registered command nearest to `words` when it is close enough to be a typo (`agents bsu` → `agents bus`). */
function suggest(registry: CommandRegistry, words: readonly string[]): string | undefined {
  let best: { path: string; score: number } | undefined;
  for (const spec of registry.list()) {
    const n = spec.path.length;
    if (n > words.length) continue;
    const typed = words.slice(0, n).join(" ");
    const path = spec.path.join(" ");
    if (typed === path) continue; // the typo is further on
    const score = editDistance(typed, path);
    if (!best || score < best.score) best = { path, score };
  }
  return best && best.score <= 2 ? best.path : undefined;
}

/** A command word the registry does not know (`/agents frobnicate` resolves to `/agents` with a stray word). */
function unknownWords(registry: CommandRegistry, words: readonly string[]): boolean {
  const resolved = registry.resolve(words);
  if (!resolved) return true;
  const next = resolved.args[0];
  if (next === undefined || next.startsWith("-")) return false;
  return registry.childrenOf(resolved.spec.path).length > 0 && !acceptsPositionals(resolved.spec);
}

/** A usage that names a positional right after the command path (`/agents trace <pid>`). */
function acceptsPositionals(spec: CommandSpec): boolean {
  const first = spec.usage.split("\n")[0]!.replace(/^usage: /, "").split(/\s+/).slice(spec.path.length)[0];
  return first !== undefined && /^[<[][a-z]/.test(first);
}

/**
 * Resolve `words` in the registry and run the command, turning thrown UsageError /
 * CommandError into their message on stderr and an exit code. Unexpected errors print
 * `error: …` (exit 1); the process never dies on a command's exception. `help …` and
 * `--help`/`-h` after any command are answered here.
 */
export async function runWords(registry: CommandRegistry, words: string[], ctx: CommandContext): Promise<number> {
  if (words[0] === "help") return help(registry, words.slice(1), ctx);
  if (unknownWords(registry, words)) {
    ctx.stderr.write(UNKNOWN_COMMAND(words.join(" "), suggest(registry, words), ctx.interactive) + "\n");
    return 2;
  }
  const { spec, args } = registry.resolve(words)!;
  if (args.includes("--help") || args.includes("-h")) {
    ctx.stdout.write(commandHelp(registry, spec));
    return 0;
  }
  try {
    return await spec.run(args, ctx);
  } catch (err) {
    if (err instanceof UsageError || err instanceof CommandError) {
      ctx.stderr.write(err.message + "\n");
      return err.exitCode;
    }
    const e = err as NodeJS.ErrnoException;
    ctx.stderr.write(`error: ${e?.message ?? String(err)}\n`);
    return 1;
  }
}

/** `/help`, `/help agents`, `/help /agents bus`, `/help exit`, `/help --help`. */
function help(registry: CommandRegistry, args: string[], ctx: CommandContext): number {
  if (args.includes("--help") || args.includes("-h")) {
    ctx.stdout.write(`${BUILTINS.help!.usage}\n  ${BUILTINS.help!.summary}\n`);
    return 0;
  }
  if (args.length === 0) {
    ctx.stdout.write(helpText(registry));
    return 0;
  }
  const words = args.flatMap((a) => a.split(/\s+/)).filter((w) => w !== "");
  if (words[0]?.startsWith("/")) words[0] = words[0].slice(1);
  const builtin = words.length === 1 ? BUILTINS[words[0]!] : undefined;
  if (builtin) {
    ctx.stdout.write(`${builtin.usage}\n  ${builtin.summary}\n`);
    return 0;
  }
  const resolved = registry.resolve(words);
  if (!resolved || resolved.args.length > 0) {
    ctx.stderr.write(UNKNOWN_COMMAND(words.join(" "), suggest(registry, words), ctx.interactive) + "\n");
    return 2;
  }
  ctx.stdout.write(commandHelp(registry, resolved.spec));
  return 0;
}

/** One command's usage and summary, and the subcommands under it (`/agents --help`). */
export function commandHelp(registry: CommandRegistry, spec: CommandSpec): string {
  let out = `${spec.usage}\n  ${spec.summary}\n`;
  const children = registry.list().filter((s) => s.path.length > spec.path.length && spec.path.every((w, i) => s.path[i] === w));
  if (children.length) out += `\nsubcommands (/help ${spec.path.join(" ")} <subcommand> for one):\n` + table(children.map((s) => [firstUsage(s), s.summary]));
  return out;
}

function firstUsage(s: CommandSpec): string {
  return s.usage.split("\n")[0]!.replace(/^usage: /i, "");
}

function table(rows: ReadonlyArray<readonly [string, string]>): string {
  const width = Math.min(48, Math.max(...rows.map(([u]) => u.length)));
  return rows.map(([u, s]) => (u.length > width ? `${u}\n${" ".repeat(width + 2)}${s}` : `${u.padEnd(width)}  ${s}`)).join("\n") + "\n";
}

/** `/help`: every registered command with its summary. */
export function helpText(registry: CommandRegistry): string {
  const rows: Array<readonly [string, string]> = registry.list().map((s) => [firstUsage(s), s.summary] as const);
  rows.push(["/help [command]", "show this help, or one command's usage"], ["/exit", "leave the shell (or /quit, or Ctrl+D)"]);
  return table(rows);
}

/** `opensre --help`: how to call the CLI, then every command. */
export function cliHelpText(registry: CommandRegistry): string {
  return (
    "usage: opensre                 open the interactive shell\n" +
    "       opensre <command> …     run one command (every /command is also `opensre command`)\n\n" +
    helpText(registry)
  );
}
