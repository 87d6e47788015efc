import { createInterface } from "node:readline";
import type { CommandContext, OutputStream } from "./command.js";
import { sanitizeTerminal } from "../term/sanitize.js";

type Input = CommandContext["stdin"];

/**
 * Runs `fn` with an AbortSignal that a single Ctrl+C aborts. Ctrl+C arrives as SIGINT
 * (cooked terminal, or `kill -INT`) or as byte 0x03 while keys are captured in raw mode.
 * A second Ctrl+C while the command is still unwinding is left to `onForce`.
 */
export class Interrupter {
  private readonly controller = new AbortController();
  private keyListeners = new Set<(key: string) => void>();
  private rawActive = false;
  private readonly onSigint = () => this.interrupt();
  private readonly onData = (chunk: Buffer | string) => this.handleData(chunk);
  private interrupts = 0;

  constructor(
    private readonly stdin: Input,
    private readonly onForce?: () => void,
  ) {
    process.on("SIGINT", this.onSigint);
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  interrupt(): void {
    this.interrupts++;
    if (this.interrupts > 1 && this.onForce) this.onForce();
    this.controller.abort();
  }

  onKey(listener: (key: string) => void): (() => void) | undefined {
    if (!this.stdin.isTTY || typeof this.stdin.setRawMode !== "function") return undefined;
    this.keyListeners.add(listener);
    if (!this.rawActive) {
      this.rawActive = true;
      this.stdin.setRawMode(true);
      this.stdin.on("data", this.onData);
      this.stdin.resume();
    }
    return () => {
      this.keyListeners.delete(listener);
      if (this.keyListeners.size === 0) this.releaseRaw();
    };
  }

  private handleData(chunk: Buffer | string): void {
    const s = typeof chunk === "string" ? chunk : chunk.toString("utf8");
    for (const ch of s) {
      if (ch === "\x03") {
        this.interrupt();
        continue;
      }
      for (const l of [...this.keyListeners]) l(ch);
    }
  }

  private releaseRaw(): void {
    if (!this.rawActive) return;
    this.rawActive = false;
    this.stdin.off("data", this.onData);
    this.stdin.setRawMode?.(false);
    this.stdin.pause();
  }

  dispose(): void {
    process.off("SIGINT", this.onSigint);
    this.keyListeners.clear();
    this.releaseRaw();
  }
}

/**
 * Ask one question and read one line from `input`; "" at end of input. `output` is the raw
 * terminal (readline draws the line with cursor controls); the question passes the sanitiser.
 */
/**
 * The context one command runs in: Ctrl+C and single keys go through `interrupter`, and questions are drawn on
 * `promptOutput` (the terminal's raw stream: readline moves the cursor itself).
 */
export function commandContext(
  base: Pick<CommandContext, "home" | "env" | "stdin" | "stdout" | "stderr" | "interactive">,
  interrupter: Interrupter,
  promptOutput: OutputStream,
): CommandContext {
  return {
    ...base,
    signal: interrupter.signal,
    onKey: (l) => interrupter.onKey(l),
    prompt: (q) => askLine(base.stdin, promptOutput, q, interrupter.signal),
  };
}

export function askLine(input: Input, output: OutputStream, question: string, signal?: AbortSignal): Promise<string> {
  return new Promise((resolve) => {
    const rl = createInterface({ input, output, terminal: Boolean(input.isTTY) });
    let done = false;
    const finish = (answer: string) => {
      if (done) return;
      done = true;
      signal?.removeEventListener("abort", onAbort);
      rl.close();
      resolve(answer);
    };
    const onAbort = () => {
      output.write("\n");
      finish("");
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    rl.on("SIGINT", onAbort);
    // an answer without a newline (`printf y | opensre agents kill P`) arrives as a last line at end of input
    rl.on("line", (line) => finish(line));
    rl.on("close", () => finish(""));
    rl.question(sanitizeTerminal(question), (answer) => finish(answer));
  });
}
