import { readFileSync, statSync } from "node:fs";
import { parseProcStat, processStartTime, WALL_CLOCK_TOLERANCE_MS } from "../fleet/procfs.js";
import { isPidAlive } from "../util/pid.js";
import { busPidPath } from "./paths.js";

export interface BrokerOwner {
  pid: number;
}

/**
 * The live broker according to the PID sidecar — never by connecting, which would
 * register a phantom subscriber. A sidecar whose pid is dead, or alive but started after
 * the sidecar was written (a reused pid), is stale. A sidecar naming this process counts
 * only if `hostedHere(socketPath)` says this process serves it.
 */
export function readLiveBroker(socketPath: string, hostedHere: (path: string) => boolean): BrokerOwner | null {
  const pidPath = busPidPath(socketPath);
  let text: string;
  let mtimeMs: number;
  try {
    text = readFileSync(pidPath, "utf8");
    mtimeMs = statSync(pidPath).mtimeMs;
  } catch {
    return null;
  }
  const pid = Number(text.trim());
  if (!Number.isSafeInteger(pid) || pid <= 0 || !isPidAlive(pid) || isExited(pid)) return null;
  if (pid === process.pid) return hostedHere(socketPath) ? { pid } : null;
  const started = processStartTime(pid);
  if (started !== undefined && started > mtimeMs + WALL_CLOCK_TOLERANCE_MS) return null;
  return { pid };
}

/** A process that has exited but not yet been reaped (zombie) serves nothing. Linux only; elsewhere false. */
function isExited(pid: number): boolean {
  if (process.platform !== "linux") return false;
  try {
    const state = parseProcStat(readFileSync(`/proc/${pid}/stat`, "utf8"))?.fields[0];
    return state === "Z" || state === "X";
  } catch {
    return false;
  }
}
