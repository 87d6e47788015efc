import { appendFileSync, mkdirSync, readdirSync, renameSync, statSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import type { TelemetryEvent } from "./events.js";

/**
 * The receiver hands events to every other opensre process (the dashboard, the shell)
 * through the home dir: one JSONL file per session, `telemetry/<provider>/<session>.jsonl`,
 * read incrementally like a transcript. Bounded: a file over MAX_SPOOL_FILE_BYTES rolls to
 * `.old` (replacing the previous one), and files untouched for a week are removed.
 */
export const TELEMETRY_DIR = "telemetry";
export const MAX_SPOOL_FILE_BYTES = 8 * 1024 * 1024;
export const SPOOL_MAX_AGE_MS = 7 * 24 * 3600 * 1000;

export function telemetryDir(home: string): string {
  return join(home, TELEMETRY_DIR);
}

function safe(s: string): string {
  return s.replace(/[^A-Za-z0-9._-]/g, "_").slice(0, 120) || "_";
}

export function spoolFile(home: string, e: Pick<TelemetryEvent, "provider" | "sessionId" | "pid">): string {
  const key = e.sessionId ? safe(e.sessionId) : e.pid !== null ? `pid-${e.pid}` : "unknown";
  return join(telemetryDir(home), safe(e.provider), `${key}.jsonl`);
}

export class TelemetrySpool {
  private readonly made = new Set<string>();
  constructor(private readonly home: string) {}

  append(events: readonly TelemetryEvent[]): void {
    const byFile = new Map<string, string[]>();
    for (const e of events) {
      const f = spoolFile(this.home, e);
      const list = byFile.get(f) ?? [];
      list.push(JSON.stringify(e));
      byFile.set(f, list);
    }
    for (const [file, lines] of byFile) {
      const dir = join(file, "..");
      if (!this.made.has(dir)) {
        mkdirSync(dir, { recursive: true, mode: 0o700 });
        this.made.add(dir);
      }
      try {
        if (statSync(file).size > MAX_SPOOL_FILE_BYTES) renameSync(file, file.replace(/\.jsonl$/, ".old"));
      } catch {
        /* new file */
      }
      appendFileSync(file, lines.join("\n") + "\n", { mode: 0o600 });
    }
  }

  /** Remove spool files nobody wrote for a week. */
  prune(now = Date.now()): void {
    const root = telemetryDir(this.home);
    let providers: string[];
    try {
      providers = readdirSync(root);
    } catch {
      return;
    }
    for (const p of providers) {
      let files: string[] = [];
      try {
        files = readdirSync(join(root, p));
      } catch {
        continue;
      }
      for (const f of files) {
        const path = join(root, p, f);
        try {
          if (now - statSync(path).mtimeMs > SPOOL_MAX_AGE_MS) unlinkSync(path);
        } catch {
          /* gone */
        }
      }
    }
  }
}
