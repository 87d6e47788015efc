import { appendFileSync, mkdirSync, readdirSync, renameSync, statSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import type { TelemetryEvent } from "./events.js";

/**
 * The receiver hands events to every other opensre process (the dashboard, the shell)
 * through the home dir: one JSONL file per session, `telemetry/<provider>/<session>.jsonl`,
 * read incrementally like a transcript. Bounded in files, bytes and age, so a flood of
 * distinct session ids costs a fixed amount of disk and of every reader's time: past a
 * bound, the files written longest ago go first.
 */
export const TELEMETRY_DIR = "telemetry";
/** One session file rolls to `.old` (replacing the previous one) past this size. */
export const MAX_SPOOL_FILE_BYTES = 8 * 1024 * 1024;
/** Files written for longer than this are removed: the dashboard looks back one hour, counters one session. */
export const SPOOL_MAX_AGE_MS = 7 * 24 * 3600 * 1000;
/**
 * Session files kept. A busy developer starts a few dozen sessions a day per agent; 512
 * holds a week of them while keeping a reader's directory scan in milliseconds.
 */
export const MAX_SPOOL_FILES = 512;
/** Bytes kept in the spool: a week of a busy fleet's events is a few MiB. */
export const MAX_SPOOL_BYTES = 64 * 1024 * 1024;

export function telemetryDir(home: string): string {
  return join(home, TELEMETRY_DIR);
}

function safe(s: string): string {
  return s.replace(/[^A-Za-z0-9._-]/g, "_").replace(/^\.+/, "_").slice(0, 120) || "_";
}

export function spoolFile(home: string, e: Pick<TelemetryEvent, "provider" | "sessionId" | "pid">): string {
  const key = e.sessionId ? safe(e.sessionId) : e.pid !== null ? `pid-${e.pid}` : "unknown";
  return join(telemetryDir(home), safe(e.provider), `${key}.jsonl`);
}

export interface SpoolStats {
  files: number;
  bytes: number;
  evicted: Record<"files" | "bytes" | "age", number>;
}

export class TelemetrySpool {
  private readonly made = new Set<string>();
  /** Every spool file with its size and last write, loaded once and kept current. */
  private readonly index = new Map<string, { size: number; mtimeMs: number }>();
  private bytes = 0;
  readonly evicted: SpoolStats["evicted"] = { files: 0, bytes: 0, age: 0 };

  constructor(
    private readonly home: string,
    private readonly now: () => number = Date.now,
    private readonly limits: { files: number; bytes: number; ageMs: number } = { files: MAX_SPOOL_FILES, bytes: MAX_SPOOL_BYTES, ageMs: SPOOL_MAX_AGE_MS },
  ) {
    const root = telemetryDir(home);
    let providers: string[] = [];
    try {
      providers = readdirSync(root);
    } catch {
      /* no spool yet */
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
          const st = statSync(path);
          if (st.isFile()) this.track(path, st.size, st.mtimeMs);
        } catch {
          /* gone */
        }
      }
    }
    this.prune();
    this.enforce();
  }

  private track(path: string, size: number, mtimeMs: number): void {
    const prev = this.index.get(path);
    this.bytes += size - (prev?.size ?? 0);
    this.index.set(path, { size, mtimeMs });
  }

  private remove(path: string, reason: keyof SpoolStats["evicted"]): void {
    const prev = this.index.get(path);
    if (!prev) return;
    try {
      unlinkSync(path);
    } catch {
      /* already gone */
    }
    this.bytes -= prev.size;
    this.index.delete(path);
    this.evicted[reason]++;
  }

  /** Remove the least recently written files until the spool is within its bounds. */
  private enforce(): void {
    while (this.index.size > this.limits.files || this.bytes > this.limits.bytes) {
      let victim: string | undefined;
      let oldest = Infinity;
      for (const [p, st] of this.index) if (st.mtimeMs < oldest) [victim, oldest] = [p, st.mtimeMs];
      if (!victim) break;
      this.remove(victim, this.index.size > this.limits.files ? "files" : "bytes");
    }
  }

  append(events: readonly TelemetryEvent[]): void {
    const byFile = new Map<string, string[]>();
    for (const e of events) {
      const f = spoolFile(this.home, e);
      const list = byFile.get(f) ?? [];
      list.push(JSON.stringify(e));
      byFile.set(f, list);
    }
    const now = this.now();
    for (const [file, lines] of byFile) {
      const dir = join(file, "..");
      if (!this.made.has(dir)) {
        mkdirSync(dir, { recursive: true, mode: 0o700 });
        this.made.add(dir);
      }
      const cur = this.index.get(file);
      if (cur && cur.size > MAX_SPOOL_FILE_BYTES) {
        const old = file.replace(/\.jsonl$/, ".old");
        try {
          renameSync(file, old);
          if (this.index.has(old)) this.bytes -= this.index.get(old)!.size;
          this.index.delete(file);
          this.index.set(old, cur);
        } catch {
          /* keep appending */
        }
      }
      const text = lines.join("\n") + "\n";
      appendFileSync(file, text, { mode: 0o600 });
      this.track(file, (this.index.get(file)?.size ?? 0) + Buffer.byteLength(text), now);
    }
    this.enforce();
  }

  /** Remove spool files nobody wrote for SPOOL_MAX_AGE_MS. */
  prune(): void {
    const cutoff = this.now() - this.limits.ageMs;
    for (const [path, st] of [...this.index]) if (st.mtimeMs < cutoff) this.remove(path, "age");
  }

  stats(): SpoolStats {
    return { files: this.index.size, bytes: this.bytes, evicted: this.evicted };
  }
}
