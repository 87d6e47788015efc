import type { FleetSnapshot } from "../fleet/model.js";
import type { HistoryRecorder } from "../history/recorder.js";
import { objectiveSli } from "../history/objectives.js";
import { querySeries, type SeriesMetric } from "../history/series.js";
import type { Objective, Sli } from "../slo/objectives.js";
import type { HistoryInfo, Range, SeriesResponse } from "./protocol.js";
import type { HistorySource } from "./live.js";

/** The store is brought up to date this often (the watchdog's interval): the day and week charts lag at most this. */
export const HISTORY_UPDATE_MS = 30_000;
/** Points of the day and week charts: 5-minute steps over a day, 30-minute steps over a week (a chart's width, roughly). */
export const RANGE_POINTS: Readonly<Record<Exclude<Range, "hour">, { ms: number; points: number }>> = {
  day: { ms: 24 * 3_600_000, points: 288 },
  week: { ms: 7 * 24 * 3_600_000, points: 336 },
};
/** Series kept for pages that ask again before the store changes (agent × range); the oldest goes first. */
export const MAX_CACHED_SERIES = 64;
/** Objective counts kept until the store changes (agents × objectives × periods); past this, all are dropped. */
export const MAX_CACHED_COUNTS = 1024;
/** Warnings of background updates kept until the next refresh shows them. */
const MAX_PENDING_WARNINGS = 20;

/** History without the store: the page says why, in the store's own words, and shows the live hour. */
export class NoHistory implements HistorySource {
  constructor(private readonly message: string) {}
  info(): HistoryInfo {
    return { available: false, message: this.message, updatedAt: null };
  }
  async update(): Promise<string[]> {
    return [];
  }
  objectiveSli(): Sli {
    throw new Error(this.message);
  }
  series(): SeriesResponse {
    throw new Error(this.message);
  }
  close(): void {}
}

/**
 * Day and week from the history store (`src/history`), kept current by this process as the
 * watchdog keeps it: every HISTORY_UPDATE_MS, in the background, one update at a time (the
 * first is a backfill of every transcript on disk and may take a while; the page shows what
 * the store holds meanwhile). The recorder is the process's shared one (the shell's history
 * loop uses the same), so it is never closed here.
 */
export class StoreHistory implements HistorySource {
  private running: Promise<void> | null = null;
  private lastStart = -Infinity;
  private updatedAt: number | null = null;
  private pending: string[] = [];
  private closed = false;

  constructor(
    private readonly recorder: HistoryRecorder,
    private readonly now: () => number = Date.now,
  ) {}

  info(): HistoryInfo {
    return { available: true, message: null, updatedAt: this.updatedAt };
  }

  /** Start an update when one is due and none runs; returns the warnings of updates finished since the last call. */
  async update(snap: FleetSnapshot): Promise<string[]> {
    const now = this.now();
    if (!this.closed && !this.running && now - this.lastStart >= HISTORY_UPDATE_MS) {
      this.lastStart = now;
      this.running = this.recorder
        .update(snap)
        .then(
          (r) => {
            this.updatedAt = this.now();
            this.warn(r.warnings.map((w) => `history: ${w}`));
          },
          (err: unknown) => this.warn([`history: ${(err as Error).message}`]),
        )
        .finally(() => (this.running = null));
    }
    const out = this.pending;
    this.pending = [];
    return out;
  }

  /** Wait for the update in progress, if any (tests, shutdown). */
  async settled(): Promise<void> {
    await this.running;
  }

  private warn(ws: string[]): void {
    this.pending.push(...ws);
    if (this.pending.length > MAX_PENDING_WARNINGS) this.pending.splice(0, this.pending.length - MAX_PENDING_WARNINGS);
  }

  private readonly cache = new Map<string, { updatedAt: number | null; step: number; value: SeriesResponse }>();

  /**
   * The store changes when an update ends (here, or in another process's next one): until
   * then, and within the same last step, a page asking again gets the same series without
   * another query (each open page asks after every update).
   */
  series(agent: string, range: Exclude<Range, "hour">, now: number): SeriesResponse {
    const key = `${range}\0${agent}`;
    const hit = this.cache.get(key);
    if (hit && hit.updatedAt === this.updatedAt && Math.floor(now / hit.value.stepMs) === hit.step) return hit.value;
    const value = storeSeries(this.recorder.store, agent, range, now);
    this.cache.delete(key);
    this.cache.set(key, { updatedAt: this.updatedAt, step: Math.floor(now / value.stepMs), value });
    if (this.cache.size > MAX_CACHED_SERIES) this.cache.delete(this.cache.keys().next().value!);
    return value;
  }

  private readonly counts = new Map<string, { updatedAt: number | null; hour: number; sli: Sli }>();

  /**
   * An objective's counts for the gauges, asked at every refresh for every agent with one:
   * kept until the store changes (an update ends) or the hour turns (the spend objective
   * counts whole hours), so most refreshes read nothing.
   */
  objectiveSli(agent: string, o: Objective, now: number, ms: number): Sli {
    const key = `${agent}\0${o.kind}\0${o.targetPct}\0${o.hourlyBudgetUsd ?? ""}\0${ms}`;
    const hour = Math.floor(now / 3_600_000);
    const hit = this.counts.get(key);
    if (hit && hit.updatedAt === this.updatedAt && hit.hour === hour) return hit.sli;
    const sli = objectiveSli(this.recorder.store, { agent }, o, now, ms);
    if (this.counts.size >= MAX_CACHED_COUNTS) this.counts.clear();
    this.counts.set(key, { updatedAt: this.updatedAt, hour, sli });
    return sli;
  }

  close(): void {
    this.closed = true;
  }
}

/**
 * The six charts' series of every session that ran as `agent` over the range ending at
 * `now`, from the store's minute (or hour) rows: tokens and $ per step as per-minute and
 * per-hour rates, error %, latency p50/p95 from the merged histograms, cpu and peak memory
 * from the process samples.
 */
export function storeSeries(store: HistoryRecorder["store"], agent: string, range: Exclude<Range, "hour">, now: number): SeriesResponse {
  const { ms, points } = RANGE_POINTS[range];
  const q = (metric: SeriesMetric) => querySeries(store, { metric, from: now - ms, to: now, agent, maxPoints: points, now });
  const tokens = q("tokens");
  const { stepMs } = tokens;
  const start = Math.floor((now - ms) / stepMs) * stepMs;
  const steps = Math.max(1, Math.ceil((now - start) / stepMs));
  const t = Array.from({ length: steps }, (_, i) => (start + i * stepMs) / 1000);
  const values = (r: ReturnType<typeof q>, scale = 1): (number | null)[] => {
    const out = new Array<number | null>(steps).fill(null);
    for (const p of r.series[0]?.points ?? []) {
      const i = Math.round((p.t - start) / stepMs);
      if (i >= 0 && i < steps && p.value !== null) out[i] = p.value * scale;
    }
    return out;
  };
  // a step with no row of the agent spent nothing: zero, not a gap (the live hour draws it the same way)
  const zeroed = (v: (number | null)[]) => (tokens.series.length ? v.map((x) => x ?? 0) : v);
  return {
    range,
    agent,
    source: "store",
    stepMs,
    t,
    tokensPerMin: zeroed(values(tokens, 60_000 / stepMs)),
    usdPerHour: zeroed(values(q("usd"), 3_600_000 / stepMs)),
    errorPct: values(q("error_pct")),
    latencyP50Ms: values(q("latency_p50_ms")),
    latencyP95Ms: values(q("latency_p95_ms")),
    cpuPct: values(q("cpu_pct")),
    memBytes: values(q("rss_bytes")),
    note: tokens.series.length ? null : `no history of ${agent} in this ${range} yet (the store is brought up to date every ${HISTORY_UPDATE_MS / 1000} s)`,
  };
}

/**
 * The history source of `agents web`: the store when its driver loads and the database can
 * be used; otherwise the reason, shown on the page (day and week then show the live hour).
 */
export async function openHistory(home: string, env: NodeJS.ProcessEnv): Promise<HistorySource> {
  try {
    const { sharedRecorder } = await import("../history/recorder.js");
    return new StoreHistory(await sharedRecorder(home, env));
  } catch (err) {
    const e = err as Error;
    if (e.name === "HistoryUnavailableError" || e.name === "HistoryError") return new NoHistory(e.message);
    throw err;
  }
}
