import { createRequire } from "node:module";
import { CLI, WAIT_MS, trackChild } from "./env.js";

const require = createRequire(import.meta.url);

interface IPty {
  onData(cb: (d: string) => void): void;
  onExit(cb: (e: { exitCode: number; signal?: number }) => void): void;
  write(data: string): void;
  kill(signal?: string): void;
  pid: number;
}
interface NodePty {
  spawn(file: string, args: string[], opts: Record<string, unknown>): IPty;
}

/** Strip terminal control sequences so assertions read what a person sees. */
export function plain(s: string): string {
  return s
    .replace(/\x1b\[[0-9;?]*[ -/]*[@-~]/g, "")
    .replace(/\x1b\][^\x07\x1b]*(\x07|\x1b\\)/g, "")
    .replace(/\x1b[@-Z\\-_]/g, "")
    .replace(/\r/g, "");
}

/** `opensre` in a real pseudo-terminal (node-pty), for end-to-end shell tests. */
export class PtySession {
  private readonly pty: IPty;
  raw = "";
  exitCode: number | undefined;
  readonly exited: Promise<number>;

  constructor(env: NodeJS.ProcessEnv, args: string[] = [], cols = 120, rows = 40) {
    const nodePty = require("node-pty") as NodePty;
    this.pty = nodePty.spawn(process.execPath, [CLI, ...args], {
      name: "xterm-256color",
      cols,
      rows,
      cwd: process.cwd(),
      env,
    });
    this.pty.onData((d) => (this.raw += d));
    this.exited = new Promise((resolve) =>
      this.pty.onExit((e) => {
        this.exitCode = e.exitCode;
        resolve(e.exitCode);
      }),
    );
    trackChild(env, process.cwd(), this.exited, () => this.kill());
  }

  get pid(): number {
    return this.pty.pid;
  }

  /** What the screen has shown so far, without control sequences. */
  get text(): string {
    return plain(this.raw);
  }

  write(data: string): void {
    this.pty.write(data);
  }

  /** Wait until the visible text after `from` (an index into `text`) contains `needle`. */
  async waitFor(needle: string | RegExp, timeoutMs = WAIT_MS, from = 0): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const t = this.text.slice(from);
      const idx = typeof needle === "string" ? t.indexOf(needle) : t.search(needle);
      if (idx >= 0) return from + idx;
      if (Date.now() > deadline || this.exitCode !== undefined) {
        throw new Error(`pty: timed out waiting for ${String(needle)}; screen so far:\n${this.text}`);
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  kill(): void {
    try {
      this.pty.kill("SIGKILL");
    } catch {
      /* already gone */
    }
  }

  /** Kill it and wait until it has exited (before its temp home is removed). */
  async stop(): Promise<void> {
    if (this.exitCode !== undefined) return;
    this.kill();
    await this.exited;
  }
}
