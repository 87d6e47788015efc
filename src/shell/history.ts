import { appendFileSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** How many lines of history are kept: enough for weeks of use, small enough to load instantly. */
export const HISTORY_LIMIT = 1000;

export function historyPath(home: string): string {
  return join(home, "history");
}

/** Load history, newest first (the order readline wants). A missing or unreadable file is an empty history. */
export function loadHistory(home: string): string[] {
  try {
    const lines = readFileSync(historyPath(home), "utf8").split("\n").filter((l) => l.trim() !== "");
    return lines.slice(-HISTORY_LIMIT).reverse();
  } catch {
    return [];
  }
}

/** Append one line; the file is trimmed back to the limit when it grows past twice the limit. */
export function appendHistory(home: string, line: string, current: readonly string[]): void {
  const clean = line.replace(/[\r\n]/g, " ");
  try {
    appendFileSync(historyPath(home), clean + "\n", { mode: 0o600 });
    if (current.length >= HISTORY_LIMIT) {
      const all = readFileSync(historyPath(home), "utf8").split("\n").filter((l) => l !== "");
      if (all.length > 2 * HISTORY_LIMIT) writeFileSync(historyPath(home), all.slice(-HISTORY_LIMIT).join("\n") + "\n", { mode: 0o600 });
    }
  } catch {
    // history is a convenience: a read-only home must not break the shell
  }
}
