import { markBreaches } from "../commands/agents.js";
import { agentOverrides } from "../commands/overrides.js";
import { sharedWorktrees } from "../commands/conflicts.js";
import { collectTranscriptWrites } from "../conflicts/collect.js";
import { DEFAULT_WINDOW_MS, detectConflicts } from "../conflicts/detect.js";
import type { Conflict } from "../conflicts/model.js";
import { FleetCollector } from "../fleet/collector.js";
import type { FleetAgent, FleetSnapshot } from "../fleet/model.js";
import { PRICES_AS_OF } from "../fleet/pricing/index.js";
import { TranscriptStore } from "../fleet/transcripts/store.js";
import { ConfigWatcher } from "../slo/config.js";
import { readIncidents, type Incident } from "../slo/incidents.js";
import type { Objective, Sli } from "../slo/objectives.js";
import { sleepUnlessAborted } from "../util/sleep.js";
import type { HistoryInfo, IncidentSummary, Range, SeriesResponse, WebAgent, WebState, BusInfo } from "./protocol.js";
import { LiveSeries, liveKey } from "./live-series.js";
import { sloGauges } from "./slo-gauges.js";

/** Default refresh of the page's data, seconds (the terminal view's too). */
export const WEB_INTERVAL_S = 2;
/** Conflicts shown are those of the last hour: when two agents started colliding, not only now. */
export const CONFLICT_LOOKBACK_MS = 60 * 60_000;
/** Incidents listed: every open one, and resolved ones of the last week (the timeline's longest range)… */
export const RESOLVED_SHOWN_MS = 7 * 24 * 60 * 60_000;
/** …at most this many, newest first: the list and the timeline stay readable and the state small. */
export const MAX_INCIDENTS_SHOWN = 200;
/** Conflicts sent to the page, newest first. */
export const MAX_CONFLICTS_SHOWN = 200;

/** Where day and week come from: the history store (issue of its own), when it can be read. */
export interface HistorySource {
  info(): HistoryInfo;
  /** Series of every session that ran under `agent` over the range ending at `now`. */
  series(agent: string, range: Exclude<Range, "hour">, now: number): SeriesResponse;
  /** Keep the store current with what this refresh saw (the dashboard is one of its writers). */
  update(snap: FleetSnapshot): Promise<string[]>;
  /** An objective's good and total events over the last `ms` before `now`, for the sessions that ran as `agent`. */
  objectiveSli(agent: string, o: Objective, now: number, ms: number): Sli;
  close(): void;
}

export interface WebFleetOptions {
  home: string;
  env: NodeJS.ProcessEnv;
  intervalMs: number;
  history?: HistorySource | null;
  bus?: () => BusInfo;
  now?: () => number;
}

function summary(i: Incident): IncidentSummary {
  const { evidence, ...rest } = i;
  return { ...rest, hasEvidence: evidence?.source !== null && !!evidence?.output };
}

/** Open incidents first, then newest first. */
export function shownIncidents(incidents: readonly Incident[], now: number): IncidentSummary[] {
  return incidents
    .filter((i) => !i.resolved_at || now - Date.parse(i.resolved_at) < RESOLVED_SHOWN_MS)
    .sort((a, b) => Number(!!a.resolved_at) - Number(!!b.resolved_at) || b.opened_at.localeCompare(a.opened_at))
    .slice(0, MAX_INCIDENTS_SHOWN)
    .map(summary);
}

/** The model's agent without its per-request samples (the page asks for series instead). */
export function webAgent(a: FleetAgent): WebAgent {
  return { ...a, key: liveKey(a), transcript: a.transcript ? { ...a.transcript, recent: [] } : null };
}

/**
 * The dashboard's model: the same collector and breach marking as the terminal views
 * (`FleetCollector`, `markBreaches`), the SLO evaluators of the watchdog, the incidents store,
 * write conflicts from the transcripts, and the live hour of each agent in memory. Refreshes
 * every `intervalMs`, the next refresh starting only after the previous one is published;
 * one failed refresh is a warning on the page, never the end of the loop.
 */
export class WebFleet {
  private readonly config: ConfigWatcher;
  private readonly collector: FleetCollector;
  private readonly series = new LiveSeries();
  private readonly now: () => number;
  private last: FleetSnapshot | null = null;
  private conflicts: Conflict[] = [];
  private shared: string[] = [];
  private seq = 0;
  private state: WebState | null = null;
  private readonly listeners = new Set<(s: WebState) => void>();

  constructor(private readonly opts: WebFleetOptions) {
    this.now = opts.now ?? Date.now;
    this.config = new ConfigWatcher(opts.home);
    const store = new TranscriptStore({ env: opts.env, now: this.now, writeRetainMs: CONFLICT_LOOKBACK_MS + 60_000 });
    this.collector = new FleetCollector({ home: opts.home, env: opts.env, store, now: this.now, overrides: agentOverrides(this.config), procRoot: opts.env.OPENSRE_PROC_ROOT || undefined });
  }

  onState(f: (s: WebState) => void): () => void {
    this.listeners.add(f);
    return () => this.listeners.delete(f);
  }

  current(): WebState | null {
    return this.state;
  }

  /** The full model of a live agent, by key, from the last refresh. */
  agent(key: string): FleetAgent | undefined {
    return this.last?.agents.find((a) => liveKey(a) === key);
  }

  /** Refresh every `intervalMs` (after the first refresh, which the caller awaits) until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    for (;;) {
      await sleepUnlessAborted(this.opts.intervalMs, signal);
      if (signal.aborted) return;
      await this.refresh();
    }
  }

  async refresh(): Promise<WebState> {
    const warnings: string[] = [];
    const { error } = this.config.current();
    if (error) warnings.push(`${error} (price overrides and SLOs from it are not applied)`);
    const now = this.now();
    try {
      const { snapshot, writes } = await collectTranscriptWrites(this.collector, now - CONFLICT_LOOKBACK_MS, false);
      this.last = snapshot;
      warnings.push(...snapshot.warnings);
      this.series.record(snapshot);
      this.conflicts = detectConflicts(writes, { windowMs: DEFAULT_WINDOW_MS, from: now - CONFLICT_LOOKBACK_MS, ignorePrefixes: [this.opts.home] })
        .sort((a, b) => b.lastSeen - a.lastSeen)
        .slice(0, MAX_CONFLICTS_SHOWN);
      this.shared = sharedWorktrees(snapshot.agents);
      if (this.opts.history) warnings.push(...(await this.opts.history.update(snapshot)));
    } catch (err) {
      warnings.push(`refresh failed: ${(err as Error).message}`);
    }
    return this.publish(warnings, true);
  }

  /** Publish again without a new refresh (after an action changed the incidents). */
  republish(): WebState {
    return this.publish(this.state?.warnings ?? [], false);
  }

  private publish(warnings: string[], fresh: boolean): WebState {
    const now = this.now();
    const snap: FleetSnapshot = this.last ?? { takenAt: now, agents: [], warnings: [] };
    for (const a of snap.agents) a.openIncidents = [];
    const marks: FleetSnapshot = { ...snap, warnings: [] };
    markBreaches(marks, this.opts.home); // the incidents store, read again: an ack shows at once
    if (fresh) warnings.push(...marks.warnings);
    const { incidents } = readIncidents(this.opts.home);
    const state: WebState = {
      seq: ++this.seq,
      takenAt: snap.takenAt,
      refreshMs: this.opts.intervalMs,
      agents: snap.agents.map(webAgent),
      slos: this.gauges(snap, warnings),
      incidents: shownIncidents(incidents, now),
      conflicts: this.conflicts,
      sharedWorktrees: this.shared,
      conflictWindowMs: DEFAULT_WINDOW_MS,
      warnings: [...new Set(warnings)],
      history: this.opts.history?.info() ?? { available: false, message: "not reading the history store", updatedAt: null },
      bus: this.opts.bus?.() ?? { connected: false, message: null },
      pricesAsOf: PRICES_AS_OF,
    };
    this.state = state;
    for (const f of this.listeners) {
      try {
        f(state);
      } catch {
        /* one listener's failure is not the loop's */
      }
    }
    return state;
  }

  /** The SLO gauges; the windowed objectives' from the history store when it can be read (else the others alone, and why). */
  private gauges(snap: FleetSnapshot, warnings: string[]) {
    const config = this.config.current().config;
    const h = this.opts.history;
    if (!h?.info().available) return sloGauges(snap.agents, config, snap.takenAt);
    try {
      return sloGauges(snap.agents, config, snap.takenAt, (agent, o, ms) => h.objectiveSli(agent, o, snap.takenAt, ms));
    } catch (err) {
      warnings.push(`history: the windowed objectives cannot be read: ${(err as Error).message}`);
      return sloGauges(snap.agents, config, snap.takenAt);
    }
  }

  /** The series of a live agent over a range: the live hour from memory, day and week from the history store. */
  seriesFor(key: string, range: Range): SeriesResponse | string {
    const a = this.agent(key);
    if (!a) return `no such agent: ${key}`;
    const now = this.now();
    if (range === "hour") return this.series.series(a, now);
    const h = this.opts.history;
    if (!h || !h.info().available) {
      const live = this.series.series(a, now);
      const why = h?.info().message ?? "the history store is not available";
      return { ...live, range, note: `showing the live hour only: ${why}` };
    }
    try {
      return h.series(a.name, range, now);
    } catch (err) {
      // a store that became unusable (locked past its timeout, corrupt): the live hour, and why
      return { ...this.series.series(a, now), range, note: `showing the live hour only: ${(err as Error).message}` };
    }
  }
}
