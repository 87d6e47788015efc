import type { BusMessage } from "../bus/message.js";
import type { FleetAgent } from "../fleet/model.js";
import type { TranscriptStore } from "../fleet/transcripts/store.js";
import type { AgentRef, WriteEvent } from "./model.js";
import { PathNormalizer } from "./paths.js";

export function refOf(a: Pick<FleetAgent, "name" | "pid" | "startTime">): AgentRef {
  return { name: a.name, pid: a.pid, startTime: a.startTime };
}

/**
 * Writes recorded in the agents' own transcripts (exact, no privileges): each agent's
 * mapped session file, write events at or after `from`.
 */
export function transcriptWrites(agents: readonly FleetAgent[], store: TranscriptStore, from: number, norm = new PathNormalizer()): WriteEvent[] {
  const out: WriteEvent[] = [];
  for (const a of agents) {
    const path = a.transcript?.transcriptPath;
    if (!path) continue;
    const ref = refOf(a);
    for (const e of store.events(path, from)) {
      if (e.kind !== "write") continue;
      out.push({ path: norm.normalize(e.path, a.cwd), at: e.t, agent: ref, source: "transcript", via: e.tool });
    }
  }
  return out;
}

/**
 * A `write` frame from a cooperating agent: topic `write`, `path` the file (relative to
 * `data.cwd` when given), the agent as `name:pid` or `name`. Attributed to the live agent
 * with that pid when there is one, else to the name the frame gives.
 */
export function busWrite(m: BusMessage, agents: readonly FleetAgent[], norm = new PathNormalizer()): WriteEvent | null {
  if (m.topic !== "write" || !m.path) return null;
  const [name, pidText] = m.agent.includes(":") ? [m.agent.slice(0, m.agent.lastIndexOf(":")), m.agent.slice(m.agent.lastIndexOf(":") + 1)] : [m.agent, ""];
  const pid = /^\d+$/.test(pidText) ? Number(pidText) : null;
  const live = pid !== null ? agents.find((a) => a.pid === pid) : undefined;
  const cwd = typeof m.data.cwd === "string" ? m.data.cwd : (live?.cwd ?? null);
  const at = Date.parse(m.timestamp);
  const agent: AgentRef = live ? refOf(live) : { name: name || "unknown", pid: pid ?? 0, startTime: null };
  return { path: norm.normalize(m.path.replace(/:\d+$/, ""), cwd), at: Number.isFinite(at) ? at : Date.now(), agent, source: "bus", via: "bus" };
}
