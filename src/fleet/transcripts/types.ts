import type { Provider } from "../model.js";

/**
 * Normalised events read from agents' session transcripts. Every adapter (Claude Code,
 * Codex, Gemini CLI, Aider, …) turns its own format into these; signals, the
 * transcript view and conflict detection consume only these.
 * All times are ms since the epoch, taken from the event's own timestamp.
 */

/** Token counts of one model request, normalised across providers. */
export interface TokenUsage {
  /** Input tokens billed at the full input price (cached reads excluded). */
  input: number;
  /** All billed output tokens, reasoning included. */
  output: number;
  /** The part of `output` that is reasoning/thoughts (informational). */
  reasoning: number;
  /** Cache writes billed at the 5-minute rate. */
  cacheWrite5m: number;
  /** Cache writes billed at the 1-hour rate. */
  cacheWrite1h: number;
  /** Cached input read (billed at the cache-read rate). */
  cacheRead: number;
}

export type TranscriptEvent =
  | {
      kind: "request";
      t: number;
      model: string | null;
      /** Key that identifies the response across lines and files (Claude: message.id + requestId); null = always count. */
      dedupeKey: string | null;
      usage: TokenUsage;
      /** Reported cost when the agent itself states it (Aider), else null. */
      reportedUsd: number | null;
    }
  | { kind: "api_error"; t: number; status: number | null; message: string; dedupeKey: string | null }
  | { kind: "user_prompt"; t: number; text: string }
  | { kind: "assistant_text"; t: number; text: string }
  | { kind: "tool_call"; t: number; tool: string; summary: string }
  | { kind: "tool_result"; t: number; tool: string | null; ok: boolean; summary: string }
  /** A file the agent wrote; `path` is absolute (relative paths resolved against the session cwd). */
  | { kind: "write"; t: number; path: string; tool: string }
  | { kind: "turn_end"; t: number; durationMs: number | null }
  | { kind: "rate_limits"; t: number; fiveHourPct: number | null; weeklyPct: number | null }
  | { kind: "context"; t: number; usedTokens: number; windowTokens: number | null }
  /** The agent is waiting for the user (a prompt or an approval). */
  | { kind: "waiting"; t: number; reason: string };

/** A transcript file found on disk and what we know about it before reading it. */
export interface SessionFile {
  provider: Provider;
  /** Absolute path of the transcript file. */
  path: string;
  /** Session id when the file name or header says it. */
  sessionId: string | null;
  /** Working directory of the session, when known without reading the file (e.g. Claude's project dir name is lossy, so null). */
  cwd: string | null;
  mtimeMs: number;
  size: number;
}
