import { readdir, stat } from "node:fs/promises";
import type { SessionTotals } from "../fleet/transcripts/store.js";
import { costUsd, priceFor } from "../fleet/pricing/index.js";
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
  /** Every request of the file, not only the retained hour: the session's cumulative figures. */
  totals: SessionTotals;
}

const emptyTotals = (): SessionTotals => ({ requests: 0, apiErrors: 0, toolFailures: 0, usage: { input: 0, output: 0, reasoning: 0, cacheWrite5m: 0, cacheWrite1h: 0, cacheRead: 0 }, usd: null, unpriced: false });

/** Add one event to a session's cumulative figures (the agent's own cost when it states one, else the price table). */
function addToTotals(t: SessionTotals, e: TelemetryEvent): void {
  if (e.kind === "request") t.requests++;
  else if (e.kind === "api_error") t.apiErrors++;
  else if (e.kind === "tool_result" && !e.ok) t.toolFailures++;
  if (!e.usage || (e.kind !== "request" && e.kind !== "usage")) return;
  const u = t.usage;
  u.input += e.usage.input;
  u.output += e.usage.output;
  u.reasoning += e.usage.reasoning;
  u.cacheWrite5m += e.usage.cacheWrite5m;
  u.cacheWrite1h += e.usage.cacheWrite1h;
  u.cacheRead += e.usage.cacheRead;
  const price = e.model ? priceFor(e.model) : null;
  const usd = e.usd ?? (price ? costUsd(e.usage, price, e.t) : null);
  if (usd === null) t.unpriced = true;
  else t.usd = (t.usd ?? 0) + usd;
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
    const present = new Set<string>();
    for (const p of providers) {
      let names: string[] = [];
      try {
        names = (await readdir(join(root, p))).filter((f) => f.endsWith(".jsonl"));
      } catch {
        continue;
      }
      for (const name of names) {
        const path = join(root, p, name);
        present.add(path);
        let s = this.files.get(path);
        if (!s) {
          // a file nobody wrote within the retained hour belongs to no live agent: not read until it changes
          const st = await stat(path).catch(() => null);
          if (!st || st.mtimeMs < cutoff) continue;
          s = { provider: p, sessionId: null, pid: null, events: [], totals: emptyTotals() };
          this.files.set(path, s);
        }
        const state = s;
        try {
          const r = await this.reader.read(
            path,
            (line) => {
              try {
                const e = JSON.parse(line) as TelemetryEvent;
                if (typeof e !== "object" || e === null || typeof e.t !== "number" || typeof e.kind !== "string") return;
                state.sessionId ??= e.sessionId;
                state.pid ??= e.pid;
                addToTotals(state.totals, e);
                if (e.t >= cutoff) state.events.push(e);
              } catch {
                /* a torn line from a crashed receiver: skip */
              }
            },
            (w) => this.warnings.push(w),
          );
          if (r.reset) {
            state.events = [];
            state.totals = emptyTotals();
          }
        } catch {
          this.files.delete(path);
        }
        if (state.events.length && state.events[0]!.t < cutoff) state.events = state.events.filter((e) => e.t >= cutoff);
      }
    }
    for (const path of this.files.keys()) {
      if (present.has(path)) continue;
      this.files.delete(path); // evicted from the spool
      this.reader.forget(path);
    }
  }

  /** Cumulative figures of the sessions eventsFor() answers with. */
  totalsFor(sessionId: string | null, pid: number | null): SessionTotals | undefined {
    let out: SessionTotals | undefined;
    for (const s of this.files.values()) {
      if (!((sessionId && s.sessionId === sessionId) || (pid !== null && s.pid === pid))) continue;
      if (!out) out = emptyTotals();
      out.requests += s.totals.requests;
      out.apiErrors += s.totals.apiErrors;
      out.toolFailures += s.totals.toolFailures;
      for (const k of Object.keys(out.usage) as Array<keyof SessionTotals["usage"]>) out.usage[k] += s.totals.usage[k];
      if (s.totals.usd !== null) out.usd = (out.usd ?? 0) + s.totals.usd;
      out.unpriced ||= s.totals.unpriced;
    }
    return out;
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
