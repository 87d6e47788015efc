import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { IncrementalReader } from "../fleet/transcripts/reader.js";
import type { TelemetryEvent } from "./events.js";
import { telemetryDir } from "./spool.js";

/** Telemetry events are kept this long (the slow SLO window). */
export const TELEMETRY_RETAIN_MS = 60 * 60 * 1000;

interface SessionTelemetry {
  provider: string;
  sessionId: string | null;
  pid: number | null;
  events: TelemetryEvent[];
}

/** Reads the spool incrementally; answers by session id or by pid. */
export class TelemetryStore {
  private readonly reader = new IncrementalReader();
  private readonly files = new Map<string, SessionTelemetry>();
  private warnings: string[] = [];

  constructor(
    private readonly home: string,
    private readonly now: () => number = Date.now,
  ) {}

  async refresh(): Promise<void> {
    const root = telemetryDir(this.home);
    let providers: string[];
    try {
      providers = await readdir(root);
    } catch {
      return;
    }
    const cutoff = this.now() - TELEMETRY_RETAIN_MS;
    for (const p of providers) {
      let names: string[] = [];
      try {
        names = (await readdir(join(root, p))).filter((f) => f.endsWith(".jsonl"));
      } catch {
        continue;
      }
      for (const name of names) {
        const path = join(root, p, name);
        let s = this.files.get(path);
        if (!s) {
          s = { provider: p, sessionId: null, pid: null, events: [] };
          this.files.set(path, s);
        }
        const state = s;
        try {
          const r = await this.reader.read(
            path,
            (line) => {
              try {
                const e = JSON.parse(line) as TelemetryEvent;
                if (typeof e.t !== "number" || e.t < cutoff) return;
                state.sessionId ??= e.sessionId;
                state.pid ??= e.pid;
                state.events.push(e);
              } catch {
                /* a torn line from a crashed receiver: skip */
              }
            },
            (w) => this.warnings.push(w),
          );
          if (r.reset) state.events = [];
        } catch {
          this.files.delete(path);
        }
        if (state.events.length && state.events[0]!.t < cutoff) state.events = state.events.filter((e) => e.t >= cutoff);
      }
    }
  }

  /** Events of the session with this id, or of the process with this pid; oldest first. */
  eventsFor(sessionId: string | null, pid: number | null): TelemetryEvent[] {
    const out: TelemetryEvent[] = [];
    for (const s of this.files.values()) {
      if ((sessionId && s.sessionId === sessionId) || (pid !== null && s.pid === pid)) out.push(...s.events);
    }
    return out.sort((a, b) => a.t - b.t);
  }

  drainWarnings(): string[] {
    const w = this.warnings;
    this.warnings = [];
    return w;
  }
}
