import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { FleetCollector } from "../../src/fleet/collector.js";
import { locateAgent } from "../../src/fleet/locate.js";
import { linuxBootTimeMs, processCwd, readProcessTable } from "../../src/fleet/procfs.js";
import { matchSession } from "../../src/fleet/transcripts/match.js";

/**
 * Why a process was (not) mapped to a transcript, looked at again in this process with the
 * same environment: the process's start time and cwd, where the agent keeps its records, the
 * sessions the store read, and what the match chose. A failing mapping assertion prints it, so
 * a miss seen once under load can be told apart (clock, listing, read, match) after the fact.
 */
export async function explainMapping(env: NodeJS.ProcessEnv, pid: number): Promise<string> {
  const out: Record<string, unknown> = { at: Date.now() };
  try {
    out.clock = clockOffsets();
    const proc = readProcessTable().procs.find((p) => p.pid === pid);
    out.proc = proc ? { pid, comm: proc.comm, startTime: proc.startTime, cwd: processCwd(pid) } : "not in the process table";
    const collector = new FleetCollector({ home: env.OPENSRE_HOME!, env, firstSampleMs: 0, telemetry: null });
    const snap = await collector.refresh();
    const row = snap.agents.find((a) => a.pid === pid);
    out.row = row ? { name: row.name, provider: row.provider, cwd: row.cwd, startTime: row.startTime, session: row.transcript?.sessionId ?? null } : "no row";
    out.warnings = snap.warnings;
    out.sessions = collector.store.sessions().map((s) => ({ path: s.path, provider: s.provider, cwd: s.cwd, sessionId: s.sessionId, parent: s.parentSessionId, lastEventAt: s.lastEventAt, mtimeMs: s.mtimeMs, size: s.size }));
    if (proc && row) {
      const loc = await locateAgent(pid, row.provider, proc.startTime, env);
      out.location = { envs: loc.envs, sessionId: loc.sessionId, pinned: loc.pinned };
      const m = matchSession({ pid, provider: row.provider as never, cwd: row.cwd, startTime: proc.startTime, openFiles: [], sessionId: loc.sessionId, pinned: loc.pinned }, collector.store.sessions());
      out.match = m?.path ?? null;
    }
    const projects = env.CLAUDE_CONFIG_DIR ? join(env.CLAUDE_CONFIG_DIR, "projects") : null;
    if (projects) out.claudeProjects = listTree(projects);
  } catch (err) {
    out.error = (err as Error).stack;
  }
  return JSON.stringify(out);
}

/** Wall clock against boot time: a step of the wall clock moves every computed process start time. */
function clockOffsets(): Record<string, number> {
  const uptime = Number(readFileSync("/proc/uptime", "utf8").split(" ")[0]);
  return { wallMinusUptimeMs: Math.round(Date.now() - uptime * 1000), btimeMs: linuxBootTimeMs() };
}

function listTree(dir: string, depth = 0): Record<string, unknown> | string {
  try {
    const out: Record<string, unknown> = {};
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory() && depth < 2) out[e.name] = listTree(p, depth + 1);
      else {
        const st = statSync(p);
        out[e.name] = { size: st.size, mtimeMs: st.mtimeMs, ino: st.ino };
      }
    }
    return out;
  } catch (err) {
    return (err as Error).message;
  }
}
