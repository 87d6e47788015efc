import { basename, dirname } from "node:path";
import type { Provider } from "../model.js";
import { claudeProjectDir, geminiProjectHash } from "./paths.js";
import type { SessionMeta } from "./store.js";
import { START_SLACK_MS } from "./store.js";

export { claudeProjectDir, geminiProjectHash };

export interface ProcessHint {
  pid: number;
  provider: Provider;
  cwd: string | null;
  /** Process start time, ms since epoch. */
  startTime: number | null;
  /** Absolute paths the process holds open (from /proc/<pid>/fd). */
  openFiles: readonly string[];
  /** The session the agent itself records for this process (Claude's `sessions/<pid>.json`), when it keeps one. */
  sessionId?: string | null;
  /** Where that record says the session's transcript is: the same id elsewhere is another agent's session. */
  pinned?: readonly string[];
}

function sessionCwdMatches(s: SessionMeta, cwd: string): boolean {
  if (s.cwd !== null) return s.cwd === cwd;
  if (s.provider === "claude-code") return basename(dirname(s.path)) === claudeProjectDir(cwd);
  if (s.provider === "gemini") return basename(dirname(dirname(s.path))) === geminiProjectHash(cwd);
  return false;
}

/**
 * The session a process is writing, most exact evidence first:
 * 1. the session the agent records for this pid (Claude Code): the file its record names, or
 *    none yet (an interactive session before its first prompt has no transcript; it never takes
 *    another's). Session ids are not unique across config dirs (a copied dir, a resumed session,
 *    another user's fixtures): a record without a path takes only an unclaimed session of its
 *    id in its own cwd;
 * 2. a transcript the process (or a child) holds open (Codex);
 * 3. otherwise the newest top-level session of its provider in the same cwd with activity
 *    after the process started, not already given to another pid (`claimed`).
 */
export function matchSession(proc: ProcessHint, sessions: readonly SessionMeta[], claimed: ReadonlySet<string> = new Set()): SessionMeta | undefined {
  const mine = sessions.filter((s) => s.provider === proc.provider && !s.parentSessionId);
  if (proc.sessionId) {
    if (proc.pinned?.length) {
      const pinned = new Set(proc.pinned);
      return mine.find((s) => pinned.has(s.path));
    }
    return mine.find((s) => s.sessionId === proc.sessionId && !claimed.has(s.path) && proc.cwd !== null && sessionCwdMatches(s, proc.cwd));
  }
  const open = new Set(proc.openFiles);
  const held = mine.find((s) => open.has(s.path));
  if (held) return held;
  if (!proc.cwd) return undefined;
  const candidates = mine
    .filter((s) => !claimed.has(s.path) && sessionCwdMatches(s, proc.cwd!))
    .filter((s) => proc.startTime === null || (s.lastEventAt ?? s.mtimeMs) >= proc.startTime - START_SLACK_MS)
    .sort((a, b) => (b.lastEventAt ?? b.mtimeMs) - (a.lastEventAt ?? a.mtimeMs));
  return candidates[0];
}
