import { CommandError, UsageError, type CommandContext } from "./command.js";
import type { CommandRegistry } from "./registry.js";

export const UNKNOWN_COMMAND = (words: string) => `unknown command: ${words}  (try /help)`;

/**
 * Resolve `words` in the registry and run the command, turning thrown UsageError /
 * CommandError into their message on stderr and an exit code. Unexpected errors print
 * `error: …` (exit 1); the process never dies on a command's exception.
 */
export async function runWords(registry: CommandRegistry, words: string[], ctx: CommandContext): Promise<number> {
  const resolved = registry.resolve(words);
  if (!resolved) {
    ctx.stderr.write(UNKNOWN_COMMAND(words.join(" ")) + "\n");
    return 2;
  }
  const { spec, args } = resolved;
  if (args.includes("--help") || args.includes("-h")) {
    ctx.stdout.write(`${spec.usage}\n  ${spec.summary}\n`);
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

/** `/help`: every registered command with its summary. */
export function helpText(registry: CommandRegistry): string {
  const rows = registry.list().map((s) => [s.usage.split("\n")[0]!.replace(/^usage: /, ""), s.summary] as const);
  rows.push(["/help", "show this help"], ["/exit", "leave the shell (or Ctrl+D)"]);
  const width = Math.min(48, Math.max(...rows.map(([u]) => u.length)));
  return rows.map(([u, s]) => (u.length > width ? `${u}\n${" ".repeat(width + 2)}${s}` : `${u.padEnd(width)}  ${s}`)).join("\n") + "\n";
}
