import type { TokenUsage } from "./transcripts/types.js";

/**
 * The plain data model of the fleet: typed records, no I/O. Collectors fill it,
 * evaluators (status, SLOs, conflicts) read it, views render it.
 */

/** Known agent kinds; discovery may report others as free-form strings. */
export type Provider =
  | "claude-code"
  | "codex"
  | "gemini"
  | "aider"
  | "cursor"
  | "opencode"
  | "copilot"
  | "amp"
  | "unknown"
  | (string & {});

/** One line of `agents.jsonl`. */
export interface AgentRecord {
  /** Display name, e.g. "claude-code". Not unique; the pid is the key. */
  name: string;
  pid: number;
  command: string;
  /** ISO-8601 UTC. */
  registered_at: string;
  source: "registered" | "discovered";
  provider: Provider;
  /** Pid of the agent this one waits on (the wait graph), or null. */
  waits_on: number | null;
  /** ISO-8601 UTC time the wait began, or null. */
  waits_since: string | null;
  /**
   * Process start time in ms since the epoch, as read from the OS when the record was
   * written; a live process with the same pid but another start time is a reused pid.
   */
  start_time: number | null;
}

/** Resource golden signals of one process (and its children). `null` = not observable. */
export interface ResourceSignals {
  uptimeSec: number | null;
  cpuPct: number | null;
  rssBytes: number | null;
  children: number | null;
}

/** One model request as the windowed evaluators need it (compact; the last hour is kept). */
export interface RequestSample {
  /** ms since epoch, from the event's own timestamp. */
  t: number;
  tokens: number;
  /** null when the model is unpriced. */
  usd: number | null;
  error: boolean;
  /** Request latency in ms when the source knows it (telemetry), else null. */
  latencyMs: number | null;
}

/** Signals read from the agent's own session transcript (or telemetry). */
export interface TranscriptSignals {
  provider: Provider;
  sessionId: string | null;
  transcriptPath: string | null;
  model: string | null;
  /** The model has no known price: $ cells show `-`. */
  unpriced: boolean;
  tokensPerMin: number;
  usdPerHour: number | null;
  /** Actual spend in the trailing hour. */
  spendLastHourUsd: number | null;
  /** Spend of the whole session. */
  totalUsd: number | null;
  requestsPerMin: number;
  /** API error rate over the trailing window, percent; null with no requests in the window. */
  errorRatePct: number | null;
  toolFailures: number;
  /** Prompt → final answer, ms, over the trailing window. */
  turnLatencyMs: { p50: number; p95: number } | null;
  /** Exact model request latency, ms, from the agent's own OpenTelemetry events (null without telemetry). */
  requestLatencyMs?: { p50: number; p95: number } | null;
  /** Some of these signals came from OpenTelemetry events received by `agents watch --otlp-port`. */
  telemetry?: boolean;
  /** Context-window use, percent, null when unknown. */
  contextPct: number | null;
  /** Codex official rate-limit use. */
  rateLimits: { fiveHourPct: number | null; weeklyPct: number | null } | null;
  /** ms since epoch of the newest transcript event. */
  lastEventAt: number | null;
  /** The transcript shows the agent waiting for the user (prompt or approval). */
  waitingForInput: boolean;
  /** A turn is in progress (a prompt was given and the turn has not ended). */
  working?: boolean;
  /** Requests of the trailing hour, oldest first, for windowed evaluators. */
  recent: RequestSample[];
  /** Cumulative figures of the whole session (requests include errors), for counters; null when unknown. */
  totals?: { requests: number; errors: number; usage: TokenUsage } | null;
}

export type AgentStatus = "active" | "idle" | "stuck" | "waiting" | "exited" | "unknown";

/** One row of the fleet: a live agent process with every signal we could observe. */
export interface FleetAgent {
  name: string;
  pid: number;
  provider: Provider;
  source: "registered" | "discovered";
  /** Discovery confidence 0..1 (1 for registered rows). */
  confidence: number;
  /** One-line reason the process was recognised (`--explain`). */
  reason: string;
  command: string;
  cwd: string | null;
  /** Process start time, ms since epoch. */
  startTime: number | null;
  resource: ResourceSignals;
  transcript: TranscriptSignals | null;
  /** Newest of the transcript's last event and the growth of the file behind stdout; ms since epoch. */
  lastOutputAt: number | null;
  /** Path of the regular file behind stdout, when there is one. */
  stdoutPath: string | null;
  status: AgentStatus;
  /** Open incidents on this agent (SLO names), filled by the SLO layer; empty otherwise. */
  openIncidents: string[];
}

export interface FleetSnapshot {
  /** ms since epoch. */
  takenAt: number;
  agents: FleetAgent[];
  /** Non-fatal problems met while collecting (corrupt registry line, unreadable transcript, …). */
  warnings: string[];
}
