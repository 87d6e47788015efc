/** Write events and conflicts: plain records, no I/O. */

/** The agent a write is attributed to: the pid with its start time is the identity. */
export interface AgentRef {
  name: string;
  pid: number;
  startTime: number | null;
}

export type WriteSource = "transcript" | "fs" | "bus";

export interface WriteEvent {
  /** Absolute, symlinks resolved (see `normalizePath`). */
  path: string;
  /** ms since epoch. */
  at: number;
  /** null: observed on disk with no evidence of who wrote it (never part of a conflict). */
  agent: AgentRef | null;
  source: WriteSource;
  /** The tool or evidence: `Edit`, `apply_patch`, `open for writing`, `bus`. */
  via: string;
}

export interface Conflict {
  path: string;
  /** Distinct agents that wrote the path within the window, in order of their first write. */
  agents: AgentRef[];
  firstSeen: number;
  lastSeen: number;
  /** Number of writes in the conflicting cluster. */
  writes: number;
}

/** Identity of a writer: pid + start time; a past session (pid 0) by its name. */
export function agentKey(a: AgentRef): string {
  return a.pid > 0 ? `${a.pid}:${a.startTime ?? ""}` : `session:${a.name}`;
}

export function agentLabel(a: AgentRef): string {
  return `${a.name} (${a.pid})`;
}
