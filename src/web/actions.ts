import { closeIncident } from "../slo/incidents.js";
import { checkKill, killAgent, killQuestion } from "../slo/kill.js";
import { isSameProcess } from "../fleet/procfs.js";

/**
 * The page's actions, through the library functions the CLI commands use (`incidents
 * ack|resolve`, `kill`), so the guards and messages are the same: an ambiguous or unknown
 * incident id, an already resolved incident, this process itself, a pid that is not running.
 * The page adds one guard of its own for kill: the pid must still be the process the page
 * showed (same start time), since a pid can be reused between the click and the POST.
 */

export interface ActionResult {
  ok: boolean;
  /** The CLI's own words: `acknowledged 1a2b3c4d`, `no such incident: 99`, `Sent SIGTERM. Process exited after 0.1s.` */
  message: string;
  /** HTTP status for a refusal. */
  status: number;
}

export async function incidentAction(home: string, id: string, action: "ack" | "resolve"): Promise<ActionResult> {
  const r = await closeIncident(home, id, action);
  return { ok: r.ok, message: r.message, status: r.ok ? 200 : r.message.startsWith("no such incident") ? 404 : 409 };
}

/** The process the page showed is gone or is another one now. */
export const KILL_STALE = (pid: number) => `pid ${pid} is no longer the agent shown on the page (it exited or the pid was reused); refresh and try again`;
/** A kill POST without the confirmation the page asks for. */
export const KILL_UNCONFIRMED = "kill needs confirmation: send {\"confirm\": true} after asking the question from kill-check";

/** First step: the guards, and the question to ask (the same as `opensre agents kill`'s prompt). */
export function killCheck(home: string, pid: number, startTime: number | null): ActionResult & { question?: string } {
  const check = checkKill(home, pid);
  if (!check.ok) return { ok: false, message: check.message, status: 409 };
  if (!isSameProcess(pid, startTime)) return { ok: false, message: KILL_STALE(pid), status: 409 };
  return { ok: true, message: check.label, status: 200, question: killQuestion(check.label) };
}

/** Second step, confirmed: SIGTERM, the grace period, SIGKILL; recorded on the agent's open incidents. */
export async function killConfirmed(home: string, pid: number, startTime: number | null, confirmed: boolean): Promise<ActionResult> {
  if (!confirmed) return { ok: false, message: KILL_UNCONFIRMED, status: 400 };
  const check = killCheck(home, pid, startTime);
  if (!check.ok) return check;
  const r = await killAgent(home, pid, { startTime }); // the identity shown on the page, checked again right before each signal
  if (!r.ok) return { ok: false, message: r.message, status: 409 };
  return { ok: true, message: r.line, status: 200 };
}
