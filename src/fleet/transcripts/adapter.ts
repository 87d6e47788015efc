import type { Provider } from "../model.js";
import type { TranscriptEvent } from "./types.js";

/** What a parser learns about its session besides events. */
export interface MetaPatch {
  cwd?: string;
  sessionId?: string;
  model?: string;
  /** The session this one runs under (a sub-agent's parent): not a top-level session of a process. */
  parentSessionId?: string;
  /** The session this one was forked from (Codex `forked_from_id`): its own top-level session. */
  forkedFromSessionId?: string;
  /** The agent's own statement of the session cost (Aider). */
  reportedSessionUsd?: number;
}

export interface ParseSink {
  event(e: TranscriptEvent): void;
  meta(patch: MetaPatch): void;
  /** A line this parser could not understand (counted per file, reported as one warning). */
  bad(): void;
  /** When these bytes were read (ms since epoch): the time of records that carry none (Aider). */
  readonly readAt: number;
  /** True while reading what the file held before we first saw it. */
  readonly backlog: boolean;
  /**
   * The reader keeps only usage (requests, API errors, prompts and turn ends, metadata):
   * a parser may skip building display events (tool calls, text summaries). History sets it.
   */
  readonly usageOnly?: boolean;
}

/** Parses one transcript file, line by line (JSONL, Markdown) or whole (JSON rewritten in place). */
export interface FileParser {
  line?(text: string, sink: ParseSink): void;
  whole?(text: string, sink: ParseSink): void;
  /**
   * JSON Lines: a last line without a newline that is a whole JSON object is a record (the
   * agent may never end its last line). Markdown parsers leave this unset.
   */
  readonly jsonLines?: boolean;
}

/** Which files a listing needs: everything (history, backfill), or what a live agent can be writing. */
export interface ListScope {
  /** The agent's working directory (its project's folder), when known. */
  cwd: string | null;
  /** Files not modified since this time (ms) cannot be a live session's; an adapter may skip listing them. */
  since: number;
}

export interface Adapter {
  readonly provider: Provider;
  /**
   * Transcript files under this agent's roots (env decides the roots: the agent's own location
   * variables and HOME; never credentials). Without `scope`, every file (history); with it, at
   * least every session a live agent in `scope.cwd` can be writing (an adapter with
   * `sessionFiles` may leave a session's other files out: the store asks for them when it reads
   * the session).
   */
  listFiles(env: NodeJS.ProcessEnv, extraRoots: ReadonlySet<string>, scope?: ListScope): Promise<string[]>;
  /** What the path alone says (session id from the file name, …). */
  initialMeta(path: string): MetaPatch;
  newParser(path: string): FileParser;
  /**
   * The session a live process of this agent is in, from the agent's own record of its process
   * (Claude Code's `<config dir>/sessions/<pid>.json`, Copilot CLI's `inuse.<pid>.hold` held open
   * in its session folder); null when it keeps none for this pid.
   */
  liveSession?(pid: number, env: NodeJS.ProcessEnv, startTime: number | null, proc: LiveProcess): Promise<LiveSession | null>;
  /**
   * Every file of the session whose main transcript is `path` (Claude: its sub-agent runs): what
   * a live refresh lists for an agent whose own record names its session, instead of its
   * project's folder, and for a listed session it reads. Default: the path alone.
   */
  sessionFiles?(path: string): Promise<string[]>;
}

/** What /proc says about a live agent: its process tree (a wrapper and its native child) and the files they hold open. */
export interface LiveProcess {
  pids: readonly number[];
  openFiles: readonly string[];
  /**
   * What this refresh has already looked at, shared by every agent of one refresh (a folder of
   * per-process records is looked at once per refresh, not once per agent). Absent: no sharing.
   */
  refreshMemo?: Map<string, unknown>;
}

/** What an agent records about one of its live processes. */
export interface LiveSession {
  sessionId: string;
  /** Where its transcript is (or will be, once the first prompt is written). */
  paths: string[];
}

/** An agent we discover that keeps no session record we can read, and why (shown instead of "not found"). */
export interface NoTranscript {
  readonly provider: Provider;
  /** The plain sentence: `opencode keeps no local transcript that opensre can read (…)`. */
  readonly reason: string;
}
