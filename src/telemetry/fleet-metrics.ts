import { readdirSync } from "node:fs";
import { hostname } from "node:os";
import type { FleetAgent, FleetSnapshot } from "../fleet/model.js";
import type { TokenUsage } from "../fleet/transcripts/types.js";
import type { TelemetryEvent } from "./events.js";
import { I, INSTRUMENTS, type Instrument } from "./instruments.js";

export type Attrs = Record<string, string | number>;
export interface NumberPoint {
  attrs: Attrs;
  value: number;
  /** ms since epoch the cumulative value started from (counters). */
  start: number;
}
export interface HistogramPoint {
  attrs: Attrs;
  start: number;
  /** Per-bucket (not cumulative) counts, one more than the bounds (the last is +Inf). */
  counts: number[];
  sum: number;
  count: number;
}
export interface MetricFamily {
  instrument: Instrument;
  points: NumberPoint[] | HistogramPoint[];
}
/** One collection of the model: what both exporters render. */
export interface Collection {
  resource: Attrs;
  /** ms since epoch. */
  at: number;
  families: MetricFamily[];
}

/** Figures the receiver, the spool, the push and the bus report at collection time. */
export interface StatsSources {
  receiver?: () => { requests: ReadonlyMap<string, number>; records: Readonly<Record<string, number>>; connections: number } | undefined;
  spool?: () => { files: number; bytes: number; evicted: Readonly<Record<string, number>> } | undefined;
  export?: () => { requests: ReadonlyMap<string, number>; failing: Readonly<Record<string, boolean>> } | undefined;
  bus?: () => { subscribers: number; framesIn: number; dropped: number } | null | undefined;
}

/** Vendor of the models an agent kind talks to (semantic conventions' gen_ai.provider.name); fixed per kind, so series never change. */
export const GEN_AI_PROVIDER: Readonly<Record<string, string>> = { "claude-code": "anthropic", codex: "openai", gemini: "gcp.gemini" };

const TOKEN_TYPES = ["input", "output", "cache_read", "cache_creation"] as const;
type TokenType = (typeof TOKEN_TYPES)[number];
const STATUSES = ["active", "idle", "stuck", "waiting", "exited", "unknown"] as const;

interface Cumulative {
  tokens: Record<TokenType, number>;
  usd: number;
  requests: number;
  errors: number;
}
const zero = (): Cumulative => ({ tokens: { input: 0, output: 0, cache_read: 0, cache_creation: 0 }, usd: 0, requests: 0, errors: 0 });

function fromTotals(a: FleetAgent): Cumulative | null {
  const t = a.transcript?.totals;
  if (!t) return null;
  const u: TokenUsage = t.usage;
  return {
    tokens: { input: u.input, output: u.output, cache_read: u.cacheRead, cache_creation: u.cacheWrite5m + u.cacheWrite1h },
    usd: a.transcript?.totalUsd ?? 0,
    requests: t.requests,
    errors: t.errors,
  };
}

interface AgentState {
  attrs: Attrs;
  firstSeen: number;
  last: Cumulative;
  counters: Cumulative;
  hist: HistogramPoint;
  /** Telemetry events already observed (or deliberately skipped as history). */
  observed: WeakSet<TelemetryEvent>;
}

/**
 * The fleet as metrics: per-agent state keyed by pid and start time, updated from each
 * snapshot. Counters and the latency histogram start at zero when opensre first sees an
 * agent and are published at zero on that refresh, so `rate()`/`increase()` see every
 * later increment; history from before the first sight (an agent already running when
 * `agents watch` started) is not replayed. Agents that exit lose their series at the
 * next refresh, so cardinality follows the live fleet.
 */
export class FleetMetrics {
  private readonly agents = new Map<string, AgentState>();
  private snap: FleetSnapshot | null = null;
  private refreshSeconds = 0;
  private readonly startedAt: number;
  readonly resource: Attrs;

  constructor(
    private readonly sources: StatsSources = {},
    private readonly now: () => number = Date.now,
  ) {
    this.startedAt = now();
    this.resource = { "service.name": "opensre-agents", "service.instance.id": hostname(), "host.name": hostname(), "process.pid": process.pid };
  }

  update(snap: FleetSnapshot, telemetryFor: (sessionId: string | null, pid: number) => readonly TelemetryEvent[], refreshSeconds: number): void {
    this.snap = snap;
    this.refreshSeconds = refreshSeconds;
    const seen = new Set<string>();
    for (const a of snap.agents) {
      const key = `${a.pid}:${a.startTime}`;
      seen.add(key);
      let st = this.agents.get(key);
      const events = telemetryFor(a.transcript?.sessionId ?? null, a.pid);
      const totals = fromTotals(a);
      if (!st) {
        const attrs: Attrs = { "opensre.agent.name": a.name, "opensre.agent.provider": a.provider, "process.pid": a.pid };
        const bounds = I.duration.buckets!;
        // an agent that started while we were watching: all it did is new; else what it did before is history
        const isNew = a.startTime !== null && a.startTime >= this.startedAt;
        st = {
          attrs,
          firstSeen: snap.takenAt,
          last: isNew ? zero() : (totals ?? zero()),
          counters: zero(),
          hist: { attrs: { ...attrs, ...genAi(a), "gen_ai.operation.name": "chat" }, start: snap.takenAt, counts: new Array<number>(bounds.length + 1).fill(0), sum: 0, count: 0 },
          observed: new WeakSet(),
        };
        // events from before we started watching are history, not new observations
        if (!isNew) for (const e of events) if (e.t < this.startedAt) st.observed.add(e);
        this.agents.set(key, st);
        continue;
      }
      if (totals) {
        // figures that appear only after the first sight (telemetry, a transcript created at the first prompt) are new
        const last = st.last ?? zero();
        for (const k of TOKEN_TYPES) st.counters.tokens[k] += Math.max(0, totals.tokens[k] - last.tokens[k]);
        st.counters.usd += Math.max(0, totals.usd - last.usd);
        st.counters.requests += Math.max(0, totals.requests - last.requests);
        st.counters.errors += Math.max(0, totals.errors - last.errors);
        st.last = totals;
      }
      for (const e of events) {
        if (st.observed.has(e)) continue;
        st.observed.add(e);
        if (e.kind !== "request" || e.latencyMs === null) continue;
        observe(st.hist, I.duration.buckets!, e.latencyMs / 1000);
      }
    }
    for (const k of this.agents.keys()) if (!seen.has(k)) this.agents.delete(k);
  }

  collect(): Collection {
    const at = this.now();
    const fams = new Map<Instrument, NumberPoint[] | HistogramPoint[]>(INSTRUMENTS.map((i) => [i, []]));
    const put = (i: Instrument, attrs: Attrs, value: number | null | undefined, start = this.startedAt) => {
      if (value === null || value === undefined || !Number.isFinite(value)) return;
      (fams.get(i) as NumberPoint[]).push({ attrs, value, start });
    };
    const byKey = new Map((this.snap?.agents ?? []).map((a) => [`${a.pid}:${a.startTime}`, a]));
    for (const [key, st] of this.agents) {
      const a = byKey.get(key);
      if (!a) continue;
      const attrs = st.attrs;
      put(I.agentUp, attrs, 1);
      put(I.agentInfo, { ...attrs, ...genAi(a), "gen_ai.request.model": a.transcript?.model ?? "" }, 1);
      for (const s of STATUSES) put(I.agentStatus, { ...attrs, "opensre.agent.status": s }, a.status === s ? 1 : 0);
      put(I.uptime, attrs, a.resource.uptimeSec);
      put(I.cpu, attrs, a.resource.cpuPct === null ? null : a.resource.cpuPct / 100);
      put(I.memory, attrs, a.resource.rssBytes);
      put(I.children, attrs, a.resource.children);
      const observable = a.transcript !== null || a.stdoutPath !== null;
      const since = a.lastOutputAt ?? (observable ? a.startTime : null);
      put(I.lastOutput, attrs, since === null ? null : since / 1000);
      put(I.incidents, attrs, a.openIncidents.length);
      const g = { ...attrs, ...genAi(a) };
      for (const k of TOKEN_TYPES) put(I.tokens, { ...g, "gen_ai.token.type": k }, st.counters.tokens[k], st.firstSeen);
      put(I.cost, g, st.counters.usd, st.firstSeen);
      put(I.requests, g, st.counters.requests, st.firstSeen);
      put(I.errors, g, st.counters.errors, st.firstSeen);
      (fams.get(I.duration) as HistogramPoint[]).push(st.hist);
    }
    put(I.agents, {}, this.snap ? this.snap.agents.length : null);
    put(I.refresh, {}, this.snap ? this.refreshSeconds : null);
    const cpu = process.cpuUsage();
    put(I.selfCpu, { "cpu.mode": "user" }, cpu.user / 1e6);
    put(I.selfCpu, { "cpu.mode": "system" }, cpu.system / 1e6);
    put(I.selfMemory, {}, process.memoryUsage.rss());
    put(I.selfFds, {}, openFds());
    put(I.selfUptime, {}, process.uptime());
    const r = this.sources.receiver?.();
    if (r) {
      for (const [k, n] of r.requests) {
        const [signal, result] = k.split(" ") as [string, string];
        put(I.telemetryRequests, { signal, result }, n);
      }
      for (const [result, n] of Object.entries(r.records)) put(I.telemetryRecords, { result }, n);
      put(I.telemetryConnections, {}, r.connections);
    }
    const sp = this.sources.spool?.();
    if (sp) {
      put(I.spoolFiles, {}, sp.files);
      put(I.spoolSize, {}, sp.bytes);
      for (const [reason, n] of Object.entries(sp.evicted)) put(I.spoolEvicted, { reason }, n);
    }
    const ex = this.sources.export?.();
    if (ex) {
      for (const [k, n] of ex.requests) {
        const [signal, result] = k.split(" ") as [string, string];
        put(I.exportRequests, { signal, result }, n);
      }
      for (const [signal, f] of Object.entries(ex.failing)) put(I.exportFailing, { signal }, f ? 1 : 0);
    }
    const b = this.sources.bus?.();
    if (b) {
      put(I.busSubscribers, {}, b.subscribers);
      put(I.busFrames, {}, b.framesIn);
      put(I.busDropped, {}, b.dropped);
    }
    return { resource: this.resource, at, families: [...fams].filter(([, p]) => p.length).map(([instrument, points]) => ({ instrument, points })) };
  }
}

function genAi(a: FleetAgent): Attrs {
  const p = GEN_AI_PROVIDER[a.provider];
  return p ? { "gen_ai.provider.name": p } : {};
}

function observe(h: HistogramPoint, bounds: readonly number[], v: number): void {
  let i = 0;
  while (i < bounds.length && v > bounds[i]!) i++;
  h.counts[i]!++;
  h.sum += v;
  h.count++;
}

function openFds(): number | null {
  try {
    return readdirSync("/proc/self/fd").length;
  } catch {
    return null;
  }
}
