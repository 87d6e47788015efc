import type { CommandRegistry } from "./registry.js";

export const SHELL_BUILTINS = ["/help", "/exit"] as const;

/**
 * Tab completion for slash commands: `/ag` → `/agents`, `/agents b` → `/agents bus`.
 * Returns readline's `[candidates, fragment being completed]`.
 */
export function completeLine(registry: CommandRegistry, line: string): [string[], string] {
  const trimmed = line.replace(/^\s+/, "");
  if (!trimmed.startsWith("/")) return [[], line];
  const endsWithSpace = /\s$/.test(trimmed);
  const words = trimmed.split(/\s+/).filter((w) => w !== "");
  const fragment = endsWithSpace ? "" : (words.pop() ?? "");
  if (words.length === 0) {
    const tops = [...registry.childrenOf([]).map((w) => "/" + w), ...SHELL_BUILTINS];
    const hits = tops.filter((c) => c.startsWith(fragment));
    return [hits.length === 1 ? [hits[0]! + " "] : hits, fragment];
  }
  const prefix = [words[0]!.slice(1), ...words.slice(1)];
  const hits = registry.childrenOf(prefix).filter((c) => c.startsWith(fragment));
  return [hits.length === 1 ? [hits[0]! + " "] : hits, fragment];
}
