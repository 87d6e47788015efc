import { COOLDOWN_MS, newIncidentId, openEvent, withIncidents, type Incident } from "../slo/incidents.js";
import { agentKey, agentLabel, type Conflict } from "./model.js";

export function conflictDetail(c: Conflict, windowMs: number): string {
  const names = c.agents.map(agentLabel);
  const who = names.length === 2 ? `${names[0]} and ${names[1]}` : `${names.slice(0, -1).join(", ")} and ${names[names.length - 1]}`;
  return `${c.path} written by ${who} within ${Math.round(windowMs / 1000)}s`;
}

/**
 * Opens an incident for each new conflict (same path + same agents: not while one is open,
 * nor within the cool-down after it resolved). Resolves to the incidents opened.
 */
export async function openConflictIncidents(home: string, conflicts: readonly Conflict[], windowMs: number, now = Date.now()): Promise<Incident[]> {
  if (!conflicts.length) return [];
  return withIncidents(home, (incidents) => {
    const opened: Incident[] = [];
    for (const c of conflicts) {
      const live = c.agents.filter((a) => a.pid > 0);
      if (live.length < 2) continue; // a past session cannot be paged about
      const key = c.agents.map(agentKey).sort().join(",");
      const prior = incidents.filter((i) => i.slo === "conflict" && i.path === c.path && i.conflict_agents === key);
      if (prior.some((i) => !i.resolved_at || now - Date.parse(i.resolved_at) < COOLDOWN_MS)) continue;
      const first = live[0]!;
      opened.push({
        id: newIncidentId(),
        agent: c.agents.map((a) => a.name).join(", "),
        pid: first.pid,
        start_time: first.startTime,
        provider: "-",
        slo: "conflict",
        detail: conflictDetail(c, windowMs),
        path: c.path,
        conflict_agents: key,
        opened_at: new Date(now).toISOString(),
        acked_at: null,
        resolved_at: null,
        resolution: null,
        kills: [],
        evidence: {
          source: null,
          output: c.agents.map((a) => `${agentLabel(a)} wrote ${c.path}`).join("\n") + "\n",
          resources: { uptimeSec: null, cpuPct: null, rssBytes: null, children: null },
          signals: { status: "conflict", lastOutputAt: new Date(c.lastSeen).toISOString(), tokensPerMin: null, usdPerHour: null, spendLastHourUsd: null, errorRatePct: null, model: null },
        },
      });
    }
    return { result: opened, events: opened.map(openEvent) };
  });
}
