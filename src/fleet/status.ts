import type { AgentStatus, FleetAgent } from "./model.js";

/** Output within this long means the agent is active. */
export const ACTIVE_WITHIN_MS = 60_000;
/** A turn in progress (or a busy CPU) with no output for this long is stuck. */
export const STUCK_AFTER_MS = 10 * 60_000;
/** CPU% at or above which a silent agent is spinning rather than idling. */
export const BUSY_CPU_PCT = 90;

/**
 * Status from what was observed, never from process start:
 * - waiting: the transcript shows it waiting for the user (turn ended, or an approval);
 * - active: output (transcript event or stdout growth) within the last minute;
 * - stuck: quiet for 10 minutes while a turn is in progress, or while burning CPU;
 * - idle: quiet otherwise; unknown: nothing observable (no transcript, stdout not a file).
 */
export function agentStatus(a: Pick<FleetAgent, "lastOutputAt" | "transcript" | "resource">, now: number): AgentStatus {
  if (a.transcript?.waitingForInput) return "waiting";
  if (a.lastOutputAt === null) {
    return a.resource.cpuPct !== null && a.resource.cpuPct >= BUSY_CPU_PCT ? "active" : "unknown";
  }
  const quiet = now - a.lastOutputAt;
  if (quiet < ACTIVE_WITHIN_MS) return "active";
  if (quiet >= STUCK_AFTER_MS && (a.transcript?.working || (a.resource.cpuPct ?? 0) >= BUSY_CPU_PCT)) return "stuck";
  return "idle";
}
