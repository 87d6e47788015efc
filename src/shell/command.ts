import type { Readable, Writable } from "node:stream";

/** A writable text sink with what a renderer needs to know about the terminal behind it. */
export interface OutputStream extends Writable {
  isTTY?: boolean;
  columns?: number;
  rows?: number;
}

/** Everything a command may touch. Commands never reach for process globals directly. */
export interface CommandContext {
  /** Resolved home directory for our state (`$OPENSRE_HOME` or `~/.config/opensre`). */
  readonly home: string;
  readonly env: NodeJS.ProcessEnv;
  readonly stdin: Readable & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };
  readonly stdout: OutputStream;
  readonly stderr: OutputStream;
  /** Aborted by a single Ctrl+C (SIGINT) while the command runs. */
  readonly signal: AbortSignal;
  /** True inside the interactive shell (`opensre` with no arguments). */
  readonly interactive: boolean;
  /**
   * Receive single keypresses while the command runs (a terminal on stdin only; returns
   * undefined otherwise). Ctrl+C still aborts `signal`. Call the returned function to stop.
   */
  onKey(listener: (key: string) => void): (() => void) | undefined;
  /** Ask one question on the terminal and read one line; resolves "" on end of input. */
  prompt(question: string): Promise<string>;
}

/** Thrown (or returned) for bad input: printed on stderr as-is, exit code 2. */
export class UsageError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = 2) {
    super(message);
    this.name = "UsageError";
    this.exitCode = exitCode;
  }
}

/** A failure the user must see verbatim (cannot trace …, permission denied …): exit code 1. */
export class CommandError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = 1) {
    super(message);
    this.name = "CommandError";
    this.exitCode = exitCode;
  }
}

export interface CommandSpec {
  /** Words that name the command: `["agents", "bus"]` is `/agents bus` and `opensre agents bus`. */
  readonly path: readonly string[];
  /** One line for `/help`. */
  readonly summary: string;
  /** Usage line(s), written in slash form: `/agents bus [--json]`. */
  readonly usage: string;
  /** Runs with the words after `path`; resolves to the process exit code. */
  run(args: string[], ctx: CommandContext): Promise<number>;
}

/** A long-lived helper the interactive shell starts in the background (watchdog, sweeps). */
export interface ShellService {
  readonly name: string;
  /** Start; `notify` prints a one-line banner above the prompt. Returns a stop function. */
  start(ctx: ShellServiceContext): Promise<() => Promise<void> | void> | (() => Promise<void> | void);
}

export interface ShellServiceContext {
  readonly home: string;
  readonly env: NodeJS.ProcessEnv;
  notify(line: string): void;
}
