import { readFileSync } from "node:fs";

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
