import { LOCATION_VARIABLES, processLocationEnv } from "./procfs.js";
import type { LiveProcess } from "./transcripts/adapter.js";
import { adapterFor } from "./transcripts/registry.js";
import type { ScopeAgent } from "./transcripts/store.js";

/** Where one live agent keeps its records, and the session it records for itself. */
export interface AgentLocation {
  /** Its own location variables (from /proc/<pid>/environ) and, when they differ or cannot be read, ours. */
  envs: Array<Record<string, string>>;
  /** The session the agent records for this pid (Claude Code, Copilot CLI), else null. */
  sessionId: string | null;
  /** Transcript paths known exactly from that record. */
  pinned: string[];
}

/** Our own location variables (the only ones a listing needs). */
export function pickLocation(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of LOCATION_VARIABLES) if (env[k] !== undefined) out[k] = env[k]!;
  return out;
}

function sameLocation(a: Record<string, string>, b: Record<string, string>): boolean {
  return LOCATION_VARIABLES.every((k) => a[k] === b[k]);
}

/**
 * The agent's own environment decides where its transcripts are (an agent started with its
 * own `CLAUDE_CONFIG_DIR` is still mapped); only the location variables and HOME are read
 * from it. Ours is looked at too, for agents whose environment we cannot read. `proc`: the
 * agent's process tree and the files it holds open (default: the pid alone, none known).
 */
export async function locateAgent(
  pid: number,
  provider: string,
  startTime: number | null,
  ourEnv: NodeJS.ProcessEnv,
  procRoot?: string,
  proc: LiveProcess = { pids: [pid], openFiles: [] },
): Promise<AgentLocation> {
  const ours = pickLocation(ourEnv);
  const own = processLocationEnv(pid, procRoot, startTime); // read once per process (fixed at exec)
  const envs = own && !sameLocation(own, ours) ? [own, ours] : [ours];
  const live = adapterFor(provider)?.liveSession;
  if (live) {
    for (const env of envs) {
      const s = await live(pid, env, startTime, proc).catch(() => null);
      if (s) return { envs, sessionId: s.sessionId, pinned: s.paths };
    }
  }
  return { envs, sessionId: null, pinned: [] };
}

/** The store's listing scope for located agents. */
export function scopeOf(agents: ReadonlyArray<{ provider: string; cwd: string | null; startTime: number | null; loc: AgentLocation }>): ScopeAgent[] {
  // an agent whose own record names its session file is looked up there alone (exact), not in its project's folder
  const exact = (a: { loc: AgentLocation }) => a.loc.sessionId !== null && a.loc.pinned.length > 0;
  return agents.flatMap((a) => a.loc.envs.map((env) => ({ provider: a.provider, env, cwd: a.cwd, startTime: a.startTime, pinned: a.loc.pinned, exact: exact(a) })));
}
