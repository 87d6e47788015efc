import { parse } from "shell-quote";
import { UsageError } from "./command.js";

/**
 * Split a shell line into words with POSIX-style quoting (`--summary 'two words'`),
 * using `shell-quote`. `$VAR` is kept literally (the shell is not a POSIX shell), and
 * operators such as `|`, `>` or `;` are rejected instead of silently dropped.
 */
export function tokenize(line: string): string[] {
  const parts = parse(line, (key: string) => `$${key}`);
  const words: string[] = [];
  for (const part of parts) {
    if (typeof part === "string") {
      words.push(part);
    } else if ("comment" in part) {
      break;
    } else if ("op" in part && part.op === "glob") {
      words.push((part as { pattern: string }).pattern);
    } else {
      throw new UsageError(`unsupported shell syntax: ${"op" in part ? part.op : "?"} (quote it to pass it literally)`);
    }
  }
  return words;
}
