import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { CLI, WAIT_MS, trackChild } from "./env.js";

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Run `opensre <args>` to completion. */
export async function runCli(
  args: string[],
  opts: { env: NodeJS.ProcessEnv; input?: string; timeoutMs?: number; cwd?: string },
): Promise<CliResult> {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: opts.env,
    cwd: opts.cwd,
    stdio: ["pipe", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
  child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  child.stdin.end(opts.input ?? "");
  // generous: on a loaded machine a one-shot command can take many seconds; a hang still ends the test
  const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 120_000);
  const [code, signal] = (await once(child, "close")) as [number | null, NodeJS.Signals | null];
  clearTimeout(timer);
  return { code, signal, stdout, stderr };
}

/** A long-running CLI child whose output can be awaited line by line. */
export class CliProcess {
  readonly child: ChildProcess;
  stdout = "";
  stderr = "";
  private waiters: Array<() => void> = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(args: string[], opts: { env: NodeJS.ProcessEnv; cwd?: string; node?: string[] }) {
    this.child = spawn(process.execPath, [...(opts.node ?? []), CLI, ...args], {
      env: opts.env,
      cwd: opts.cwd,
      stdio: ["pipe", "pipe", "pipe"],
    });
    this.child.stdout!.setEncoding("utf8").on("data", (d: string) => {
      this.stdout += d;
      this.wake();
    });
    this.child.stderr!.setEncoding("utf8").on("data", (d: string) => {
      this.stderr += d;
      this.wake();
    });
    this.exited = new Promise((resolve) => {
      this.child.on("close", (code, signal) => {
        this.wake();
        resolve({ code, signal });
      });
    });
    trackChild(opts.env, opts.cwd, this.exited, () => this.kill("SIGKILL"));
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Resolve once `pred(stdout, stderr)` holds; reject after `timeoutMs` with what was seen. */
  async waitFor(pred: (out: string, err: string) => boolean, timeoutMs = WAIT_MS, what = "condition"): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pred(this.stdout, this.stderr)) {
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`timed out waiting for ${what}\n--- stdout ---\n${this.stdout}\n--- stderr ---\n${this.stderr}`);
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 200));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  waitForOutput(text: string, timeoutMs = WAIT_MS): Promise<void> {
    return this.waitFor((o) => o.includes(text), timeoutMs, JSON.stringify(text));
  }

  kill(signal: NodeJS.Signals = "SIGTERM"): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
  }

  /** Kill it and resolve once it has exited. */
  async stop(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    this.kill(signal);
    await this.exited;
  }
}
