import { readFileSync } from "node:fs";
import { execFileSync } from "node:child_process";

/**
 * The single place that probes the operating system's process table (Linux `/proc`,
 * macOS `ps`). Everything else asks here.
 */

let bootTimeMs: number | undefined;
let clockTicks: number | undefined;

/** Boot time in ms since the epoch (Linux `btime` in /proc/stat). */
export function linuxBootTimeMs(): number {
  if (bootTimeMs === undefined) {
    const stat = readFileSync("/proc/stat", "utf8");
    const m = /^btime (\d+)$/m.exec(stat);
    if (!m) throw new Error("/proc/stat has no btime line");
    bootTimeMs = Number(m[1]) * 1000;
  }
  return bootTimeMs;
}

/** USER_HZ: the unit of /proc times. 100 on every mainstream Linux; `getconf CLK_TCK` confirms it once. */
export function linuxClockTicks(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** Fields of /proc/<pid>/stat after the `(comm)` field, which may itself contain spaces and parentheses. */
export function parseProcStat(text: string): { comm: string; fields: string[] } | undefined {
  const open = text.indexOf("(");
  const close = text.lastIndexOf(")");
  if (open < 0 || close < open) return undefined;
  return { comm: text.slice(open + 1, close), fields: text.slice(close + 2).trim().split(/\s+/) };
}

/**
 * Start time of a process in ms since the epoch, or undefined if it does not exist.
 * Linux: field 22 of /proc/<pid>/stat (clock ticks since boot) + boot time; macOS: `ps -o lstart`.
 */
export function processStartTime(pid: number): number | undefined {
  if (process.platform === "linux") {
    try {
      const parsed = parseProcStat(readFileSync(`/proc/${pid}/stat`, "utf8"));
      // fields[0] is field 3 (state); starttime is field 22 → index 19
      const ticks = parsed ? Number(parsed.fields[19]) : NaN;
      if (!Number.isFinite(ticks)) return undefined;
      return linuxBootTimeMs() + Math.round((ticks * 1000) / linuxClockTicks());
    } catch {
      return undefined;
    }
  }
  if (process.platform === "darwin") {
    try {
      const out = execFileSync("ps", ["-o", "lstart=", "-p", String(pid)], { encoding: "utf8" }).trim();
      const t = Date.parse(out);
      return Number.isFinite(t) ? t : undefined;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/** Tolerance when comparing start times: macOS reports seconds; Linux is exact to the tick. */
export const START_TIME_TOLERANCE_MS = 1000;

/** True when `pid` is alive and is still the process that started at `startTime` (null = unknown, accept). */
export function isSameProcess(pid: number, startTime: number | null): boolean {
  const now = processStartTime(pid);
  if (now === undefined) {
    try {
      process.kill(pid, 0);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EPERM") return false;
    }
    return startTime === null || (process.platform !== "linux" && process.platform !== "darwin");
  }
  return startTime === null || Math.abs(now - startTime) <= START_TIME_TOLERANCE_MS;
}
