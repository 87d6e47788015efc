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
 * Deepest level of the wait graph drawn as a tree. A longer chain is a stuck fleet, not
 * something to read line by line: what hangs below this depth is counted on one line
 * (drawing it would also cost output quadratic in the depth, each level indenting further).
 */
export const GRAPH_MAX_DEPTH = 50;

/**
 * The tree of who waits on whom: roots are agents that wait on nobody (or on someone not
 * registered); each waiter hangs under the agent it waits on. Drawn without recursion (a
 * 20,000-long chain is an input like any other), GRAPH_MAX_DEPTH levels deep at most.
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
  /** Agents waiting (directly or not) below `r` that are not drawn yet. */
  const below = (r: AgentRecord): number => {
    let n = 0;
    const todo = [...(children.get(r.pid) ?? [])];
    while (todo.length) {
      const k = todo.pop()!;
      if (visited.has(k.pid)) continue;
      visited.add(k.pid);
      n++;
      todo.push(...(children.get(k.pid) ?? []));
    }
    return n;
  };
  type Frame = { r: AgentRecord; prefix: string; last: boolean; depth: number };
  const stack: Frame[] = roots.map((r) => ({ r, prefix: "", last: true, depth: 0 })).reverse();
  while (stack.length) {
    const { r, prefix, last, depth } = stack.pop()!;
    if (visited.has(r.pid)) continue;
    visited.add(r.pid);
    const state = r.waits_on !== null ? `[waiting on ${escapeText(byPid.get(r.waits_on)?.name ?? `pid ${r.waits_on}`)}]${elapsed(r.waits_since, now)}` : "[active]";
    lines.push(`${depth === 0 ? "" : prefix + (last ? "└─ " : "├─ ")}${label(r)} ${state}`);
    const kids = (children.get(r.pid) ?? []).filter((k) => !visited.has(k.pid));
    if (!kids.length) continue;
    const inner = depth === 0 ? "" : prefix + (last ? "   " : "│  ");
    if (depth + 1 >= GRAPH_MAX_DEPTH) {
      const n = below(r);
      lines.push(`${inner}└─ … ${n} more agent${n === 1 ? "" : "s"} waiting below (deeper than ${GRAPH_MAX_DEPTH} levels)`);
      continue;
    }
    for (let i = kids.length - 1; i >= 0; i--) stack.push({ r: kids[i]!, prefix: inner, last: i === kids.length - 1, depth: depth + 1 });
  }
  return lines.join("\n") + (lines.length ? "\n" : "");
}
