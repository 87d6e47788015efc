import { createHash } from "node:crypto";
import { basename, dirname } from "node:path";
import type { Provider } from "../model.js";
import type { SessionMeta } from "./store.js";

export interface ProcessHint {
  pid: number;
  provider: Provider;
  cwd: string | null;
  /** Process start time, ms since epoch. */
  startTime: number | null;
  /** Absolute paths the process holds open (from /proc/<pid>/fd). */
  openFiles: readonly string[];
}

/** Slack for clocks and the delay between a process starting and its first transcript line. */
const START_SLACK_MS = 5_000;

/** Claude names a project dir after the cwd with every non-alphanumeric character replaced by `-`. */
export function claudeProjectDir(cwd: string): string {
  return cwd.replace(/[^A-Za-z0-9]/g, "-");
}

/** Gemini names its project dir after the SHA-256 of the cwd. */
export function geminiProjectHash(cwd: string): string {
  return createHash("sha256").update(cwd).digest("hex");
}

function sessionCwdMatches(s: SessionMeta, cwd: string): boolean {
  if (s.cwd !== null) return s.cwd === cwd;
  if (s.provider === "claude-code") return basename(dirname(s.path)) === claudeProjectDir(cwd);
  if (s.provider === "gemini") return basename(dirname(dirname(s.path))) === geminiProjectHash(cwd);
  return false;
}

/**
 * The session a process is writing: a transcript it holds open wins; otherwise the newest
 * top-level session of its provider in the same cwd with activity after the process started.
 * `claimed` holds sessions already given to another pid in the same refresh.
 */
export function matchSession(proc: ProcessHint, sessions: readonly SessionMeta[], claimed: ReadonlySet<string> = new Set()): SessionMeta | undefined {
  const mine = sessions.filter((s) => s.provider === proc.provider && !s.parentSessionId);
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
