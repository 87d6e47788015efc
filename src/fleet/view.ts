import type { FleetAgent, FleetSnapshot } from "./model.js";
import type { Incident } from "../slo/incidents.js";

/**
 * How any view of the fleet orders, filters and totals it: the terminal's live view and the
 * web dashboard share these (pure functions of the model, no I/O, no terminal: the page's
 * script bundles this module as it is).
 */

export const SORTS = ["status", "$/hr", "tokens/min", "cpu", "mem", "uptime"] as const;
export type SortKey = (typeof SORTS)[number];

/** Worst first: the order of the status sort. */
export const STATUS_RANK: Record<string, number> = { breach: 0, stuck: 1, waiting: 2, active: 3, idle: 4, unknown: 5, exited: 6 };

/** `breach` with an open incident, else the observed status. */
export function statusKey(a: Pick<FleetAgent, "openIncidents" | "status">): string {
  return a.openIncidents.length ? "breach" : a.status;
}

/** Descending by the key, unknown values last; then by pid. */
export function sortAgents(agents: readonly FleetAgent[], key: SortKey): FleetAgent[] {
  const num = (a: FleetAgent): number | null => {
    switch (key) {
      case "$/hr":
        return a.transcript?.usdPerHour ?? null;
      case "tokens/min":
        return a.transcript?.tokensPerMin ?? null;
      case "cpu":
        return a.resource.cpuPct;
      case "mem":
        return a.resource.rssBytes;
      case "uptime":
        return a.resource.uptimeSec;
      default:
        return null;
    }
  };
  return [...agents].sort((a, b) => {
    if (key === "status") {
      const d = (STATUS_RANK[statusKey(a)] ?? 9) - (STATUS_RANK[statusKey(b)] ?? 9);
      if (d) return d;
      return (b.transcript?.usdPerHour ?? -1) - (a.transcript?.usdPerHour ?? -1) || a.pid - b.pid;
    }
    const x = num(a);
    const y = num(b);
    if (x === null && y === null) return a.pid - b.pid;
    if (x === null) return 1;
    if (y === null) return -1;
    return y - x || a.pid - b.pid;
  });
}

/** Name, provider or folder contains the text (case-insensitive). */
export function matchesFilter(a: FleetAgent, filter: string): boolean {
  if (!filter) return true;
  const f = filter.toLowerCase();
  return a.name.toLowerCase().includes(f) || a.provider.toLowerCase().includes(f) || (a.cwd ?? "").toLowerCase().includes(f);
}

export interface Totals {
  agents: number;
  usdPerHour: number;
  tokensPerMin: number;
  openIncidents: number;
  /** Peers connected to the bus (other than this view), null when there is no broker. */
  busPeers: number | null;
}

export function fleetTotals(snap: Pick<FleetSnapshot, "agents"> | null, incidents: readonly Pick<Incident, "resolved_at">[], busPeers: number | null): Totals {
  const agents = snap?.agents ?? [];
  return {
    agents: agents.length,
    usdPerHour: agents.reduce((s, a) => s + (a.transcript?.usdPerHour ?? 0), 0),
    tokensPerMin: agents.reduce((s, a) => s + (a.transcript?.tokensPerMin ?? 0), 0),
    openIncidents: incidents.filter((i) => !i.resolved_at).length,
    busPeers,
  };
}
