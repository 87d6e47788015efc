import { readFileSync } from "node:fs";
import { forgetAgent, lookupAgent } from "../fleet/registry.js";
import { escapeText } from "../term/sanitize.js";
import { isPidAlive } from "../util/pid.js";
import { killEvent, withIncidents } from "./incidents.js";

/** SIGTERM gets this long to work before SIGKILL. */
export const KILL_GRACE_MS = 5000;
/** After SIGKILL, wait this long before reporting the process may still be running. */
export const KILL_CONFIRM_MS = 2000;
const POLL_MS = 50;

export type KillOutcome =
  | { ok: true; signal: "SIGTERM" | "SIGKILL"; exited: boolean; elapsedMs: number }
  | { ok: false; reason: "no-such-process" | "permission-denied"; message: string };

/** Gone, or a zombie waiting for its parent to reap it (it will never run again). */
export function hasExited(pid: number, procRoot = "/proc"): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "ESRCH";
  }
  try {
    const stat = readFileSync(`${procRoot}/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) === "Z";
  } catch {
    return false; // no /proc (macOS): the signal test above is all we have
  }
}

async function waitExit(pid: number, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  for (;;) {
    if (hasExited(pid)) return true;
    if (Date.now() >= until) return false;
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/** SIGTERM, up to `graceMs` for the process to exit, then SIGKILL. */
export async function terminate(pid: number, opts: { graceMs?: number; confirmMs?: number } = {}): Promise<KillOutcome> {
  const t0 = Date.now();
  try {
    process.kill(pid, "SIGTERM");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ESRCH") return { ok: false, reason: "no-such-process", message: `no such process: pid ${pid}` };
    if (code === "EPERM") return { ok: false, reason: "permission-denied", message: `permission denied: cannot signal pid ${pid}` };
    throw err;
  }
  if (await waitExit(pid, opts.graceMs ?? KILL_GRACE_MS)) return { ok: true, signal: "SIGTERM", exited: true, elapsedMs: Date.now() - t0 };
  try {
    process.kill(pid, "SIGKILL");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ESRCH") return { ok: true, signal: "SIGTERM", exited: true, elapsedMs: Date.now() - t0 };
    throw err;
  }
  const exited = await waitExit(pid, opts.confirmMs ?? KILL_CONFIRM_MS);
  return { ok: true, signal: "SIGKILL", exited, elapsedMs: Date.now() - t0 };
}

/** `Sent SIGTERM. Process exited after 1.2s.` and its variants. */
export function describeKill(o: Extract<KillOutcome, { ok: true }>): string {
  const after = `${(o.elapsedMs / 1000).toFixed(1)}s`;
  const sent = o.signal === "SIGTERM" ? "Sent SIGTERM" : "Sent SIGTERM, then SIGKILL";
  return o.exited ? `${sent}. Process exited after ${after}.` : `${sent}, but process may still be running after ${after}.`;
}

/** What a kill may go ahead on: the process and how to name it, or why not. */
export type KillCheck = { ok: true; pid: number; label: string } | { ok: false; message: string };

/**
 * The guards every kill passes, from the `kill` command and from the live view alike:
 * never this process, never a pid that is not running. The label names a registered
 * agent (`auth-fixer (pid 4968)`, escaped) or the bare pid.
 */
export function checkKill(home: string, pid: number): KillCheck {
  if (pid === process.pid) return { ok: false, message: "refusing to kill the opensre process itself" };
  if (!isPidAlive(pid)) return { ok: false, message: `no such process: pid ${pid}` };
  const rec = lookupAgent(home, pid);
  return { ok: true, pid, label: rec ? `${escapeText(rec.name)} (pid ${pid})` : `pid ${pid}` };
}

/** The question asked before a kill (the `kill` command and the live view ask the same). */
export const killQuestion = (label: string): string => `About to SIGTERM ${label}. Confirm? [y/N] `;
/** A yes to `killQuestion`. */
export const isKillConfirmed = (answer: string): boolean => /^y(es)?$/i.test(answer.trim());

export type KillResult = { ok: true; line: string; exited: boolean } | { ok: false; message: string };

/**
 * Stop a checked agent: SIGTERM, the grace period, SIGKILL; an agent that exited leaves the
 * registry, and the kill is recorded on its open incidents.
 */
export async function killAgent(home: string, pid: number, opts: { graceMs?: number; confirmMs?: number } = {}): Promise<KillResult> {
  const outcome = await terminate(pid, opts);
  if (!outcome.ok) return { ok: false, message: outcome.message };
  const line = describeKill(outcome);
  if (outcome.exited) await forgetAgent(home, pid);
  await withIncidents(home, (incidents) => ({
    result: undefined,
    events: incidents.filter((i) => i.pid === pid && !i.resolved_at).map((i) => killEvent(i.id, new Date(), outcome.signal, line)),
  }));
  return { ok: true, line, exited: outcome.exited };
}
