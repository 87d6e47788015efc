import type { FleetAgent, FleetSnapshot } from "../fleet/model.js";
import type { SeriesResponse } from "./protocol.js";

/** The live range: this many minutes, one point a minute. */
export const LIVE_MINUTES = 60;
/** Agents whose samples are kept at once; past this, the one seen longest ago is forgotten (a fleet is tens, not thousands). */
export const MAX_LIVE_AGENTS = 1000;
const MINUTE = 60_000;

interface Bucket {
  minute: number;
  cpuSum: number;
  cpuN: number;
  rssMax: number | null;
  p50: number | null;
  p95: number | null;
}

/** Identity of a live agent: its pid with its process start time (a reused pid is another agent). */
export function liveKey(a: Pick<FleetAgent, "pid" | "startTime">): string {
  return `${a.pid}:${a.startTime ?? ""}`;
}

/**
 * The live hour of each agent, in memory: what the process table and the refresh give at each
 * refresh (cpu, memory, the latency percentiles of the trailing window), folded into one
 * bucket a minute, at most LIVE_MINUTES a agent. Tokens, $ and errors need no sampling: they
 * come from the requests of the agent's own transcript (its last hour is in the model), so the
 * whole hour is there from the first refresh. Works without the history store.
 */
export class LiveSeries {
  private readonly byAgent = new Map<string, { seen: number; buckets: Bucket[] }>();

  record(snap: FleetSnapshot): void {
    const minute = Math.floor(snap.takenAt / MINUTE);
    for (const a of snap.agents) {
      const key = liveKey(a);
      let entry = this.byAgent.get(key);
      if (!entry) {
        if (this.byAgent.size >= MAX_LIVE_AGENTS) this.evictOldest();
        this.byAgent.set(key, (entry = { seen: snap.takenAt, buckets: [] }));
      }
      entry.seen = snap.takenAt;
      const list = entry.buckets;
      let b = list[list.length - 1];
      if (!b || b.minute !== minute) {
        b = { minute, cpuSum: 0, cpuN: 0, rssMax: null, p50: null, p95: null };
        list.push(b);
        while (list.length && list[0]!.minute <= minute - LIVE_MINUTES) list.shift();
      }
      if (a.resource.cpuPct !== null) {
        b.cpuSum += a.resource.cpuPct;
        b.cpuN++;
      }
      if (a.resource.rssBytes !== null) b.rssMax = Math.max(b.rssMax ?? 0, a.resource.rssBytes);
      const lat = a.transcript?.requestLatencyMs ?? a.transcript?.turnLatencyMs ?? null;
      if (lat) {
        b.p50 = lat.p50;
        b.p95 = lat.p95;
      }
    }
    // agents gone for longer than the range have nothing left to show
    for (const [k, e] of this.byAgent) if (e.seen < snap.takenAt - LIVE_MINUTES * MINUTE) this.byAgent.delete(k);
  }

  /** Number of agents with samples (for the bound's test). */
  get size(): number {
    return this.byAgent.size;
  }

  private evictOldest(): void {
    let oldest: string | null = null;
    let at = Infinity;
    for (const [k, e] of this.byAgent) if (e.seen < at) [oldest, at] = [k, e.seen];
    if (oldest !== null) this.byAgent.delete(oldest);
  }

  /** The agent's last hour, one point a minute, ending with the current minute. */
  series(a: FleetAgent, now: number): SeriesResponse {
    const end = Math.floor(now / MINUTE);
    const first = end - LIVE_MINUTES + 1;
    const nulls = () => new Array<number | null>(LIVE_MINUTES).fill(null);
    const out: SeriesResponse = {
      range: "hour",
      agent: a.name,
      source: "live",
      stepMs: MINUTE,
      t: Array.from({ length: LIVE_MINUTES }, (_, i) => ((first + i) * MINUTE) / 1000),
      tokensPerMin: nulls(),
      usdPerHour: nulls(),
      errorPct: nulls(),
      latencyP50Ms: nulls(),
      latencyP95Ms: nulls(),
      cpuPct: nulls(),
      memBytes: nulls(),
      note: null,
    };
    const t = a.transcript;
    if (t) {
      const requests = new Array<number>(LIVE_MINUTES).fill(0);
      const errors = new Array<number>(LIVE_MINUTES).fill(0);
      for (let i = 0; i < LIVE_MINUTES; i++) {
        out.tokensPerMin[i] = 0;
        out.usdPerHour[i] = t.unpriced ? null : 0;
      }
      for (const r of t.recent) {
        const i = Math.floor(r.t / MINUTE) - first;
        if (i < 0 || i >= LIVE_MINUTES) continue;
        if (r.error) errors[i]!++;
        else requests[i]!++;
        out.tokensPerMin[i] = out.tokensPerMin[i]! + r.tokens;
        // a minute's spend, as a rate per hour
        if (r.usd !== null && out.usdPerHour[i] !== null) out.usdPerHour[i] = out.usdPerHour[i]! + r.usd * 60;
      }
      for (let i = 0; i < LIVE_MINUTES; i++) {
        const n = requests[i]! + errors[i]!;
        out.errorPct[i] = n ? (100 * errors[i]!) / n : null;
      }
    }
    for (const b of this.byAgent.get(liveKey(a))?.buckets ?? []) {
      const i = b.minute - first;
      if (i < 0 || i >= LIVE_MINUTES) continue;
      out.cpuPct[i] = b.cpuN ? b.cpuSum / b.cpuN : null;
      out.memBytes[i] = b.rssMax;
      out.latencyP50Ms[i] = b.p50;
      out.latencyP95Ms[i] = b.p95;
    }
    return out;
  }
}
