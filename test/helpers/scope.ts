import type { ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { busPidPath } from "../../src/bus/paths.js";
import { WAIT_MS } from "./env.js";

/**
 * Cleanups that run last-in, first-out once the test is over, pass or fail. node:test runs a test's
 * `t.after` hooks first-in, first-out, so a temp home registered first would be removed while the
 * processes started later still write into it; through a scope, what was started last stops first.
 */
export interface Scope {
  defer(fn: () => unknown): void;
}

export function scope(t: { after: (fn: () => unknown) => void }): Scope {
  const stack: Array<() => unknown> = [];
  t.after(async () => {
    let first: unknown;
    while (stack.length) {
      try {
        await stack.pop()!();
      } catch (err) {
        first ??= err;
      }
    }
    if (first) throw first;
  });
  return { defer: (fn) => void stack.push(fn) };
}

/**
 * Kill a child and resolve once it has exited (its pid is gone, its pipes closed). A test file's
 * process must never wait on a child that outlives it, and a temp dir is removed only after the
 * processes writing into it are gone.
 */
export async function stopChild(child: ChildProcess, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill(signal);
  await gone;
}

/**
 * Wait until the bus broker on `socketPath` is hosted by `pid` (the PID file names it; the broker writes it once it
 * listens). A test that then speaks to the socket itself never elects, so never hosts a broker in its own process.
 */
export async function brokerHostedBy(socketPath: string, pid: number, timeoutMs = WAIT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let seen = "no PID file";
  for (;;) {
    try {
      seen = `PID file says ${readFileSync(busPidPath(socketPath), "utf8").trim()}`;
      if (seen === `PID file says ${pid}`) return;
    } catch {
      /* not written yet */
    }
    if (Date.now() > deadline) throw new Error(`the bus broker at ${socketPath} was not hosted by pid ${pid} within ${timeoutMs} ms (${seen})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
