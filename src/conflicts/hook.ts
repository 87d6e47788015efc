import { FleetCollector } from "../fleet/collector.js";
import { readProcessTable } from "../fleet/procfs.js";
import { TranscriptStore } from "../fleet/transcripts/store.js";
import { CLAUDE_WRITE_TOOLS } from "../fleet/transcripts/claude.js";
import { pathClaimFor, readClaims } from "./claims.js";
import { currentBranch } from "./git.js";
import { normalizePath } from "./paths.js";
import { transcriptWrites } from "./sources.js";

/** Transcript bytes read per file on the hook's first look: recent writes are near the end. */
export const HOOK_TAIL_BYTES = 256 * 1024;

/** Claude Code's PreToolUse hook input (the fields we use). */
export interface PreToolInput {
  tool_name?: unknown;
  tool_input?: { file_path?: unknown; notebook_path?: unknown } | unknown;
  cwd?: unknown;
  transcript_path?: unknown;
}

export type HookDecision = { block: false; reason?: undefined } | { block: true; reason: string };

/**
 * Why an edit is blocked by another agent's recent write: how long ago it wrote, and how long
 * is left of the window (the time after which the same edit goes through), in whole seconds
 * that add up to the window (never less than 1).
 */
export function writeBlockReason(path: string, agent: { name: string; pid: number }, agoMs: number, windowMs: number): string {
  const ago = Math.max(0, Math.round(agoMs / 1000));
  const left = Math.max(1, Math.round(windowMs / 1000) - ago);
  return `${path} was written by ${agent.name} (pid ${agent.pid}) ${ago}s ago; wait ${left}s or coordinate on /agents bus`;
}

/** Pids of this process's ancestors: the agent that runs the hook is one of them. */
export function ancestors(pid: number, procRoot?: string): Set<number> {
  const table = readProcessTable({ procRoot });
  const parent = new Map(table.procs.map((p) => [p.pid, p.ppid]));
  const out = new Set<number>([pid]);
  for (let p = parent.get(pid); p !== undefined && p > 1 && !out.has(p); p = parent.get(p)) out.add(p);
  return out;
}

/**
 * Decide whether Claude Code may run an Edit/Write: blocked when another live agent wrote
 * the same file within the window, or holds a claim on the path or on the branch checked
 * out where the file lives. The agent running the hook (an ancestor of this process, or
 * the owner of the hook's transcript) is never "another agent".
 */
export async function decidePreTool(
  input: PreToolInput,
  opts: { home: string; env: NodeJS.ProcessEnv; windowMs: number; now?: number; self?: Set<number>; procRoot?: string },
): Promise<HookDecision> {
  const tool = typeof input.tool_name === "string" ? input.tool_name : "";
  if (!CLAUDE_WRITE_TOOLS.has(tool)) return { block: false };
  const ti = (typeof input.tool_input === "object" && input.tool_input !== null ? input.tool_input : {}) as { file_path?: unknown; notebook_path?: unknown };
  const raw = typeof ti.file_path === "string" ? ti.file_path : typeof ti.notebook_path === "string" ? ti.notebook_path : "";
  if (!raw) return { block: false };
  const cwd = typeof input.cwd === "string" ? input.cwd : process.cwd();
  const path = normalizePath(raw, cwd);
  const now = opts.now ?? Date.now();
  const self = opts.self ?? ancestors(process.pid, opts.procRoot);

  const { claims } = readClaims(opts.home);
  const claim = pathClaimFor(claims, path, self);
  if (claim) return { block: true, reason: `${path} is claimed by ${claim.name} (pid ${claim.pid}) (claim ${claim.glob}); ask it to release the claim` };
  const br = currentBranch(cwd);
  if (br) {
    const holder = claims.branches[br.branch];
    if (holder && !self.has(holder.pid)) return { block: true, reason: `branch ${br.branch} is claimed by ${holder.name} (pid ${holder.pid}); ask it to release the claim` };
  }

  const store = new TranscriptStore({ env: opts.env, recentOnly: { ms: opts.windowMs + 60_000, tailBytes: HOOK_TAIL_BYTES } });
  const collector = new FleetCollector({ home: opts.home, env: opts.env, store, firstSampleMs: 0, procRoot: opts.procRoot });
  const snap = await collector.refresh();
  const mine = typeof input.transcript_path === "string" ? normalizePath(input.transcript_path) : null;
  const others = snap.agents.filter((a) => !self.has(a.pid) && !(mine && a.transcript?.transcriptPath && normalizePath(a.transcript.transcriptPath) === mine));
  const recent = transcriptWrites(others, store, now - opts.windowMs).filter((w) => w.path === path).sort((a, b) => b.at - a.at);
  const last = recent[0];
  if (last?.agent) {
    return { block: true, reason: writeBlockReason(path, last.agent, now - last.at, opts.windowMs) };
  }
  return { block: false };
}
