import { readFileSync } from "node:fs";
import { discover } from "../fleet/discovery.js";
import { isKernelThread, isSameProcess, processStartTime, readProcessTable, type ProcessTable } from "../fleet/procfs.js";
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

/** Gone, a zombie, or (with a known start time) replaced by another process under the same pid. */
function isGone(pid: number, startTime: number | null): boolean {
  return hasExited(pid) || (startTime !== null && !isSameProcess(pid, startTime));
}

async function waitExit(pid: number, ms: number, startTime: number | null): Promise<boolean> {
  const until = Date.now() + ms;
  for (;;) {
    if (isGone(pid, startTime)) return true;
    if (Date.now() >= until) return false;
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/** Why a kill stopped short: the pid now names another process than the one confirmed. */
export const REUSED = (pid: number) => `pid ${pid} is no longer the process that was confirmed (it exited and the pid was reused); nothing was sent`;

/**
 * SIGTERM, up to `graceMs` for the process to exit, then SIGKILL. With `startTime` (the
 * process as confirmed), its identity is checked again right before each signal: a pid
 * reused meanwhile (the confirmation prompt was open, the process exited) gets nothing.
 */
export async function terminate(pid: number, opts: { graceMs?: number; confirmMs?: number; startTime?: number | null } = {}): Promise<KillOutcome> {
  const t0 = Date.now();
  const startTime = opts.startTime ?? null;
  if (startTime !== null && !isSameProcess(pid, startTime)) {
    return hasExited(pid) ? { ok: false, reason: "no-such-process", message: `no such process: pid ${pid}` } : { ok: false, reason: "no-such-process", message: REUSED(pid) };
  }
  try {
    process.kill(pid, "SIGTERM");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ESRCH") return { ok: false, reason: "no-such-process", message: `no such process: pid ${pid}` };
    if (code === "EPERM") return { ok: false, reason: "permission-denied", message: `permission denied: cannot signal pid ${pid}` };
    throw err;
  }
  if (await waitExit(pid, opts.graceMs ?? KILL_GRACE_MS, startTime)) return { ok: true, signal: "SIGTERM", exited: true, elapsedMs: Date.now() - t0 };
  if (startTime !== null && !isSameProcess(pid, startTime)) return { ok: true, signal: "SIGTERM", exited: true, elapsedMs: Date.now() - t0 };
  try {
    process.kill(pid, "SIGKILL");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ESRCH") return { ok: true, signal: "SIGTERM", exited: true, elapsedMs: Date.now() - t0 };
    throw err;
  }
  const exited = await waitExit(pid, opts.confirmMs ?? KILL_CONFIRM_MS, startTime);
  return { ok: true, signal: "SIGKILL", exited, elapsedMs: Date.now() - t0 };
}

/** `Sent SIGTERM. Process exited after 1.2s.` and its variants. */
export function describeKill(o: Extract<KillOutcome, { ok: true }>): string {
  const after = `${(o.elapsedMs / 1000).toFixed(1)}s`;
  const sent = o.signal === "SIGTERM" ? "Sent SIGTERM" : "Sent SIGTERM, then SIGKILL";
  return o.exited ? `${sent}. Process exited after ${after}.` : `${sent}, but process may still be running after ${after}.`;
}

/** What a kill may go ahead on: the process, its start time (its identity) and how to name it, or why not. */
export type KillCheck = { ok: true; pid: number; label: string; startTime: number | null } | { ok: false; message: string };

/**
 * The guards every kill passes, from the `kill` command and from the live view alike: never
 * this process or one of its ancestors (the shell or terminal it runs in), never pid 1,
 * never a kernel thread, never a pid that is not running, and never a process that is not an
 * agent (discovered, or registered) unless `any`. The label names a registered agent
 * (`auth-fixer (pid 4968)`, escaped) or the bare pid. The start time returned is the identity
 * `killAgent` checks again right before signalling.
 */
export function checkKill(home: string, pid: number, opts: { any?: boolean; procRoot?: string } = {}): KillCheck {
  if (pid === process.pid) return { ok: false, message: "refusing to kill the opensre process itself" };
  if (pid === 1) return { ok: false, message: "refusing to kill pid 1 (the init process)" };
  if (!isPidAlive(pid)) return { ok: false, message: `no such process: pid ${pid}` };
  let table: ProcessTable | null = null;
  try {
    table = readProcessTable({ procRoot: opts.procRoot });
  } catch {
    table = null; // no process table (unsupported platform): only the checks above and the registry
  }
  const proc = table?.procs.find((p) => p.pid === pid);
  const comm = proc ? ` (${escapeText(proc.comm)})` : "";
  if (isKernelThread(pid, opts.procRoot)) return { ok: false, message: `refusing to kill pid ${pid}${comm}: it is a kernel thread` };
  if (table) {
    const parent = new Map(table.procs.map((p) => [p.pid, p.ppid]));
    const seen = new Set<number>();
    for (let p = parent.get(process.pid); p !== undefined && p > 0 && !seen.has(p); p = parent.get(p)) {
      if (p === pid) return { ok: false, message: `refusing to kill pid ${pid}${comm}: opensre runs inside it (it is an ancestor of this process)` };
      seen.add(p);
    }
  }
  const rec = lookupAgent(home, pid);
  if (!rec && !opts.any) {
    const uid = process.getuid?.() ?? -1;
    const agent = table ? discover(table.procs, uid, new Set([process.pid])).some((c) => c.proc.pid === pid) : false;
    if (!agent) return { ok: false, message: `refusing to kill pid ${pid}${comm}: it is not an agent (neither discovered nor registered); add --any to stop it anyway` };
  }
  const startTime = proc?.startTime ?? processStartTime(pid) ?? null;
  return { ok: true, pid, label: rec ? `${escapeText(rec.name)} (pid ${pid})` : `pid ${pid}`, startTime };
}

/** The question asked before a kill (the `kill` command and the live view ask the same). */
export const killQuestion = (label: string): string => `About to SIGTERM ${label}. Confirm? [y/N] `;
/** A yes to `killQuestion`. */
export const isKillConfirmed = (answer: string): boolean => /^y(es)?$/i.test(answer.trim());

export type KillResult = { ok: true; line: string; exited: boolean } | { ok: false; message: string };

/**
 * Stop a checked agent: SIGTERM, the grace period, SIGKILL; an agent that exited leaves the
 * registry, and the kill is recorded on its open incidents. Pass the check's `startTime`: a
 * pid that names another process by the time of signalling is left alone.
 */
export async function killAgent(home: string, pid: number, opts: { graceMs?: number; confirmMs?: number; startTime?: number | null } = {}): Promise<KillResult> {
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
