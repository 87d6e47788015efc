import sparkly from "sparkly";
import type { FleetAgent, FleetSnapshot } from "../fleet/model.js";

/** The details view's sparklines cover this long, one column a minute. */
export const SPARK_MINUTES = 30;
const MINUTE = 60_000;

/**
 * CPU% per minute for each agent, sampled at every refresh the view makes (the process
 * table keeps no history): at most SPARK_MINUTES numbers per agent, and agents that left the
 * fleet are forgotten at the next refresh.
 */
export class CpuHistory {
  private readonly byAgent = new Map<string, { minute: number; sum: number; n: number }[]>();

  record(snap: FleetSnapshot): void {
    const minute = Math.floor(snap.takenAt / MINUTE);
    const seen = new Set<string>();
    for (const a of snap.agents) {
      const key = agentKey(a);
      seen.add(key);
      if (a.resource.cpuPct === null) continue;
      let list = this.byAgent.get(key);
      if (!list) this.byAgent.set(key, (list = []));
      const last = list[list.length - 1];
      if (last && last.minute === minute) {
        last.sum += a.resource.cpuPct;
        last.n++;
      } else list.push({ minute, sum: a.resource.cpuPct, n: 1 });
      while (list.length && list[0]!.minute <= minute - SPARK_MINUTES) list.shift();
    }
    for (const k of [...this.byAgent.keys()]) if (!seen.has(k)) this.byAgent.delete(k);
  }

  /** SPARK_MINUTES values, oldest first; null for minutes without a sample. */
  series(a: FleetAgent, now: number): (number | null)[] {
    const end = Math.floor(now / MINUTE);
    const out: (number | null)[] = new Array(SPARK_MINUTES).fill(null);
    for (const b of this.byAgent.get(agentKey(a)) ?? []) {
      const i = SPARK_MINUTES - 1 - (end - b.minute);
      if (i >= 0 && i < SPARK_MINUTES) out[i] = b.sum / b.n;
    }
    return out;
  }
}

export function agentKey(a: Pick<FleetAgent, "pid" | "startTime">): string {
  return `${a.pid}:${a.startTime ?? ""}`;
}

/**
 * Tokens per minute and $/hr per minute over the last SPARK_MINUTES minutes, from the
 * requests of the agent's transcript (its last hour is kept): the whole half hour is there
 * from the first refresh. null (no transcript, or $ unpriced) leaves the line empty.
 */
export function requestSeries(a: FleetAgent, now: number): { tokensPerMin: (number | null)[]; usdPerHour: (number | null)[] } {
  const t = a.transcript;
  const empty = () => new Array<number | null>(SPARK_MINUTES).fill(null);
  if (!t) return { tokensPerMin: empty(), usdPerHour: empty() };
  const end = Math.floor(now / MINUTE);
  const tokens = new Array<number | null>(SPARK_MINUTES).fill(0);
  const usd = new Array<number | null>(SPARK_MINUTES).fill(t.unpriced ? null : 0);
  for (const r of t.recent) {
    const i = SPARK_MINUTES - 1 - (end - Math.floor(r.t / MINUTE));
    if (i < 0 || i >= SPARK_MINUTES) continue;
    tokens[i] = (tokens[i] ?? 0) + r.tokens;
    if (r.usd !== null && usd[i] !== null) usd[i] = usd[i]! + r.usd * 60;
  }
  return { tokensPerMin: tokens, usdPerHour: usd };
}

/** `▁▂▅█` for the values (a gap where there is none), zero at the bottom. */
export function sparkline(values: readonly (number | null)[]): string {
  if (values.every((v) => v === null)) return " ".repeat(values.length);
  return sparkly(values.map((v) => (v === null ? Number.NaN : v)), { minimum: 0 });
}
