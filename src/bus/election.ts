import { readFileSync, statSync, unlinkSync } from "node:fs";
import { dirname } from "node:path";
import { ensureHome } from "../util/home.js";
import { withFileLock } from "../util/lock.js";
import { isPidAlive } from "../util/pid.js";
import { processStartTime, START_TIME_TOLERANCE_MS } from "../fleet/procfs.js";
import { Broker } from "./broker.js";
import { busLockPath, busPidPath } from "./paths.js";

/** Brokers hosted by this process, by socket path. */
const hosted = new Map<string, Broker>();

/** Where broker warnings of this process go (oversized frames, evictions). Default: nowhere. */
let warningSink: (line: string) => void = () => undefined;
export function onBrokerWarning(sink: (line: string) => void): void {
  warningSink = sink;
}

export interface BrokerOwner {
  pid: number;
}

/**
 * The live broker according to the PID sidecar — never by connecting, which would
 * register a phantom subscriber. A sidecar whose pid is dead, or alive but started after
 * the sidecar was written (a reused pid), is stale.
 */
export function liveBroker(socketPath: string): BrokerOwner | null {
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
  if (!Number.isSafeInteger(pid) || pid <= 0 || !isPidAlive(pid)) return null;
  if (pid === process.pid) return hosted.has(socketPath) ? { pid } : null;
  const started = processStartTime(pid);
  if (started !== undefined && started > mtimeMs + START_TIME_TOLERANCE_MS) return null;
  return { pid };
}

function unlinkIfPresent(path: string): void {
  try {
    unlinkSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
}

/**
 * Make sure a broker serves `socketPath`: return the live one, or elect this process.
 * Serialized across processes (ours and Python's) by an exclusive flock on
 * `agents-bus.sock.lock` around check → unlink stale → bind → write sidecar.
 * Errors (read-only home, sidecar write failure, …) propagate with the OS message.
 */
export async function ensureBroker(socketPath: string): Promise<BrokerOwner> {
  const mine = hosted.get(socketPath);
  if (mine) return { pid: process.pid };
  const live = liveBroker(socketPath);
  if (live) return live;
  ensureHome(dirname(socketPath));
  return withFileLock(busLockPath(socketPath), async () => {
    const again = liveBroker(socketPath);
    if (again) return again;
    unlinkIfPresent(socketPath);
    unlinkIfPresent(busPidPath(socketPath));
    const broker = new Broker(socketPath);
    broker.on("warning", (line: string) => warningSink(line));
    await broker.start();
    hosted.set(socketPath, broker);
    broker.once("close", () => {
      if (hosted.get(socketPath) === broker) hosted.delete(socketPath);
    });
    return { pid: process.pid };
  });
}

/** The broker this process hosts for `socketPath`, if any. */
export function hostedBroker(socketPath?: string): Broker | undefined {
  if (socketPath !== undefined) return hosted.get(socketPath);
  return hosted.values().next().value;
}

/** Stop every broker this process hosts (tests, tidy shutdown). */
export async function stopHostedBrokers(): Promise<void> {
  await Promise.all([...hosted.values()].map((b) => b.stop()));
  hosted.clear();
}
