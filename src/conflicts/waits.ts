import type { AgentRecord } from "../fleet/model.js";
import { escapeText } from "../term/sanitize.js";

/**
 * The wait graph: registered agents, each waiting on at most one other (`waits_on`).
 * Pure functions over registry records.
 */

/** `name (pid)`, the name escaped: every string these functions return is for a terminal. */
const label = (r: Pick<AgentRecord, "name" | "pid">) => `${escapeText(r.name)} (${r.pid})`;

/** The cycle `waiter` → `target` would close, as pids from `waiter` back to itself; null when none. */
export function cycleIfWaits(records: readonly AgentRecord[], waiter: number, target: number): number[] | null {
  const byPid = new Map(records.map((r) => [r.pid, r]));
  const path = [waiter];
  const seen = new Set<number>([waiter]);
  for (let at: number | null = target; at !== null; at = byPid.get(at)?.waits_on ?? null) {
    path.push(at);
    if (at === waiter) return path;
    if (seen.has(at)) return null; // an existing cycle that does not involve the waiter
    seen.add(at);
  }
  return null;
}

/** `agent dependency cycle detected: a (1) -> b (2) -> a (1).` */
export function cycleMessage(records: readonly AgentRecord[], pids: readonly number[]): string {
  const byPid = new Map(records.map((r) => [r.pid, r]));
  return `agent dependency cycle detected: ${pids.map((p) => label(byPid.get(p) ?? { name: "?", pid: p })).join(" -> ")}.`;
}

/** Cycles already stored (written by another tool, or edited by hand). */
export function findCycles(records: readonly AgentRecord[]): number[][] {
  const byPid = new Map(records.map((r) => [r.pid, r]));
  const done = new Set<number>();
  const cycles: number[][] = [];
  for (const r of records) {
    const path: number[] = [];
    const index = new Map<number, number>();
    for (let at: number | null = r.pid; at !== null && !done.has(at); at = byPid.get(at)?.waits_on ?? null) {
      if (index.has(at)) {
        const c = path.slice(index.get(at)!);
        cycles.push([...c, at]);
        break;
      }
      index.set(at, path.length);
      path.push(at);
    }
    for (const p of path) done.add(p);
  }
  return cycles;
}

function elapsed(since: string | null, now: number): string {
  const t = since ? Date.parse(since) : NaN;
  if (!Number.isFinite(t)) return "";
  const s = Math.max(0, Math.floor((now - t) / 1000));
  const text = s < 60 ? `${s}s` : s < 3600 ? `${Math.floor(s / 60)}m${s % 60 ? `${s % 60}s` : ""}` : `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
  return ` for ${text}`;
}

/**
 * The tree of who waits on whom: roots are agents that wait on nobody (or on someone not
 * registered); each waiter hangs under the agent it waits on.
 *
 *   auth-fixer (8421) [active]
 *   └─ reviewer (9133) [waiting on auth-fixer] for 2m10s
 */
export function renderWaitGraph(records: readonly AgentRecord[], now: number): string {
  const byPid = new Map(records.map((r) => [r.pid, r]));
  const children = new Map<number, AgentRecord[]>();
  const roots: AgentRecord[] = [];
  for (const r of records) {
    if (r.waits_on !== null && byPid.has(r.waits_on)) {
      const list = children.get(r.waits_on) ?? [];
      list.push(r);
      children.set(r.waits_on, list);
    } else roots.push(r);
  }
  const lines: string[] = [];
  const visited = new Set<number>();
  const node = (r: AgentRecord, prefix: string, last: boolean, depth: number) => {
    visited.add(r.pid);
    const state = r.waits_on !== null ? `[waiting on ${escapeText(byPid.get(r.waits_on)?.name ?? `pid ${r.waits_on}`)}]${elapsed(r.waits_since, now)}` : "[active]";
    lines.push(`${depth === 0 ? "" : prefix + (last ? "└─ " : "├─ ")}${label(r)} ${state}`);
    const kids = children.get(r.pid) ?? [];
    kids.forEach((k, i) => {
      if (!visited.has(k.pid)) node(k, depth === 0 ? "" : prefix + (last ? "   " : "│  "), i === kids.length - 1, depth + 1);
    });
  };
  for (const r of roots) node(r, "", true, 0);
  return lines.join("\n") + (lines.length ? "\n" : "");
}
