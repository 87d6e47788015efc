import { unlinkSync } from "node:fs";
import { dirname } from "node:path";
import { ensureHome } from "../util/home.js";
import { withFileLock } from "../util/lock.js";
import { HANDOVER_GRACE_MS, type BrokerStats } from "./broker.js";
import { channel, channelIfStarted, setElectHandler } from "./channel.js";
import { readLiveBroker, type BrokerOwner } from "./liveness.js";
import { busLockPath, busPidPath } from "./paths.js";

export type { BrokerOwner };
export { onBrokerWarning } from "./channel.js";

function hostedHere(path: string): boolean {
  return channelIfStarted()?.hosted.has(path) === true;
}

/**
 * The live broker according to the PID sidecar — never by connecting, which would
 * register a phantom subscriber. A sidecar whose pid is dead, or alive but started after
 * the sidecar was written (a reused pid), is stale.
 */
export function liveBroker(socketPath: string): BrokerOwner | null {
  return readLiveBroker(socketPath, hostedHere);
}

function unlinkIfPresent(path: string): void {
  try {
    unlinkSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
}

const electing = new Map<string, Promise<BrokerOwner>>();

/**
 * Make sure a broker serves `socketPath`: return the live one, or elect this process (the
 * broker then runs on this process's bus thread). Serialized across processes (ours and
 * Python's) by an exclusive flock on `agents-bus.sock.lock` around check → unlink stale →
 * bind → write sidecar. Errors (read-only home, sidecar write failure, …) propagate with
 * the OS message.
 */
export async function ensureBroker(socketPath: string): Promise<BrokerOwner> {
  if (hostedHere(socketPath)) return { pid: process.pid };
  const live = liveBroker(socketPath);
  if (live) return live;
  let p = electing.get(socketPath);
  if (!p) {
    p = elect(socketPath).finally(() => electing.delete(socketPath));
    electing.set(socketPath, p);
  }
  return p;
}

async function elect(socketPath: string): Promise<BrokerOwner> {
  ensureHome(dirname(socketPath));
  return withFileLock(busLockPath(socketPath), async () => {
    const again = liveBroker(socketPath);
    if (again) return again;
    unlinkIfPresent(socketPath);
    unlinkIfPresent(busPidPath(socketPath));
    await channel().startBroker(socketPath);
    return { pid: process.pid };
  });
}

setElectHandler(async (path) => {
  const owner = await ensureBroker(path);
  return { pid: owner.pid, hosted: owner.pid === process.pid };
});

/** Counters of the broker this process hosts for `socketPath` (any, when omitted), or null. */
export function hostedBrokerStats(socketPath?: string): BrokerStats | null {
  const ch = channelIfStarted();
  if (!ch) return null;
  const arr = socketPath !== undefined ? ch.hosted.get(socketPath) : ch.hosted.values().next().value;
  if (!arr) return null;
  return { subscribers: arr[0]!, framesIn: arr[1]!, framesOut: arr[2]!, dropped: arr[3]!, evicted: arr[4]!, refused: arr[5]! };
}

/**
 * Stop every broker this process hosts, handing over: clients get a notice and up to
 * `graceMs` to move to the next broker; the socket and sidecar are removed first.
 */
export async function stopHostedBrokers(graceMs = HANDOVER_GRACE_MS): Promise<void> {
  const ch = channelIfStarted();
  if (!ch) return;
  await Promise.all([...ch.hosted.keys()].map((p) => ch.stopBroker(p, graceMs)));
}
