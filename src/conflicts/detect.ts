import { agentKey, type AgentRef, type Conflict, type WriteEvent } from "./model.js";

/** Two agents writing one path within this long of each other conflict. */
export const DEFAULT_WINDOW_MS = 10_000;

export interface DetectOptions {
  windowMs: number;
  /** Only writes at or after this time count (live view: now - window). */
  from: number;
  /** Writes under these directories are ours (state, logs): never conflicts. */
  ignorePrefixes?: readonly string[];
}

/**
 * Conflicts among write events: per path, a sliding window over time-sorted writes;
 * whenever two or more distinct agents are inside one window, they conflict. Overlapping
 * windows of one path merge into one conflict (first seen → last seen). Unattributed
 * writes never conflict. O(n log n) for the sort, linear after.
 */
export function detectConflicts(events: Iterable<WriteEvent>, opts: DetectOptions): Conflict[] {
  const byPath = new Map<string, WriteEvent[]>();
  const ignore = opts.ignorePrefixes ?? [];
  for (const e of events) {
    if (!e.agent || e.at < opts.from) continue;
    if (ignore.some((p) => e.path === p || e.path.startsWith(p.endsWith("/") ? p : p + "/"))) continue;
    const list = byPath.get(e.path);
    if (list) list.push(e);
    else byPath.set(e.path, [e]);
  }
  const out: Conflict[] = [];
  for (const [path, list] of byPath) {
    if (list.length < 2) continue;
    if (!hasTwoAgents(list)) continue;
    list.sort((a, b) => a.at - b.at);
    const counts = new Map<string, number>();
    let lo = 0;
    let current: Cluster | null = null;
    for (let hi = 0; hi < list.length; hi++) {
      const e = list[hi]!;
      const k = agentKey(e.agent!);
      counts.set(k, (counts.get(k) ?? 0) + 1);
      while (e.at - list[lo]!.at > opts.windowMs) {
        const lk = agentKey(list[lo]!.agent!);
        const n = counts.get(lk)! - 1;
        if (n === 0) counts.delete(lk);
        else counts.set(lk, n);
        lo++;
      }
      if (counts.size < 2) continue;
      if (!current || list[lo]!.at > current.last) {
        if (current) out.push(finish(path, current));
        current = { agents: new Map(), first: list[lo]!.at, last: e.at, writes: 0, upTo: lo - 1 };
      }
      // each write joins the cluster once: linear however many writes share a window
      for (let i = Math.max(lo, current.upTo + 1); i <= hi; i++) {
        const w = list[i]!;
        current.writes++;
        if (!current.agents.has(agentKey(w.agent!))) current.agents.set(agentKey(w.agent!), w.agent!);
      }
      current.upTo = hi;
      current.last = e.at;
    }
    if (current) out.push(finish(path, current));
  }
  return out.sort((a, b) => b.lastSeen - a.lastSeen || a.path.localeCompare(b.path));
}

function hasTwoAgents(list: readonly WriteEvent[]): boolean {
  const first = agentKey(list[0]!.agent!);
  return list.some((e) => agentKey(e.agent!) !== first);
}

interface Cluster {
  agents: Map<string, AgentRef>;
  first: number;
  last: number;
  writes: number;
  /** Index of the last write already in the cluster. */
  upTo: number;
}

function finish(path: string, c: Cluster): Conflict {
  return { path, agents: [...c.agents.values()], firstSeen: c.first, lastSeen: c.last, writes: c.writes };
}
