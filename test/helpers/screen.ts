import { createRequire } from "node:module";
import { CLI, WAIT_MS, trackChild } from "./env.js";

const require = createRequire(import.meta.url);

interface IPty {
  onData(cb: (d: string) => void): void;
  onExit(cb: (e: { exitCode: number; signal?: number }) => void): void;
  write(data: string): void;
  resize(cols: number, rows: number): void;
  kill(signal?: string): void;
  pid: number;
}
interface NodePty {
  spawn(file: string, args: string[], opts: Record<string, unknown>): IPty;
}
interface XCell {
  getChars(): string;
  isFgDefault(): boolean;
  isBgDefault(): boolean;
  isInverse(): number;
  isBold(): number;
}
interface XLine {
  isWrapped: boolean;
  translateToString(trimRight?: boolean): string;
  getCell(x: number): XCell | undefined;
  length: number;
}
interface XBuffer {
  type: "normal" | "alternate";
  length: number;
  viewportY: number;
  baseY: number;
  cursorY: number;
  getLine(y: number): XLine | undefined;
}
interface XTerminal {
  write(data: string, cb?: () => void): void;
  resize(cols: number, rows: number): void;
  buffer: { active: XBuffer; normal: XBuffer; alternate: XBuffer };
  modes: { wraparoundMode: boolean; synchronizedOutputMode: boolean };
  cols: number;
  rows: number;
  dispose(): void;
}

/**
 * A program in a real pseudo-terminal (node-pty) whose output is fed to a terminal emulator
 * (`@xterm/headless`), so assertions read the screen a person sees: its lines, their colours,
 * whether a line was wrapped, which buffer (normal or alternate) is shown.
 */
export class ScreenSession {
  private readonly pty: IPty;
  readonly term: XTerminal;
  raw = "";
  exitCode: number | undefined;
  readonly exited: Promise<number>;
  private pending = Promise.resolve();

  constructor(opts: { env: NodeJS.ProcessEnv; args?: string[]; cols?: number; rows?: number; file?: string; cwd?: string }) {
    const cols = opts.cols ?? 120;
    const rows = opts.rows ?? 30;
    const { Terminal } = require("@xterm/headless") as { Terminal: new (o: Record<string, unknown>) => XTerminal };
    this.term = new Terminal({ cols, rows, allowProposedApi: true, scrollback: 1000 });
    const nodePty = require("node-pty") as NodePty;
    const file = opts.file ?? process.execPath;
    const args = opts.file ? (opts.args ?? []) : [CLI, ...(opts.args ?? [])];
    this.pty = nodePty.spawn(file, args, { name: "xterm-256color", cols, rows, cwd: opts.cwd ?? process.cwd(), env: opts.env });
    this.pty.onData((d) => {
      this.raw += d;
      this.pending = this.pending.then(() => new Promise<void>((r) => this.term.write(d, r)));
    });
    this.exited = new Promise((resolve) =>
      this.pty.onExit((e) => {
        this.exitCode = e.exitCode;
        resolve(e.exitCode);
      }),
    );
    trackChild(opts.env, opts.cwd, this.exited, () => this.kill());
  }

  get pid(): number {
    return this.pty.pid;
  }

  /** Every byte received so far has been parsed by the emulator. */
  settled(): Promise<void> {
    return this.pending;
  }

  /** The visible screen, one string per row, trailing spaces trimmed. */
  lines(): string[] {
    const b = this.term.buffer.active;
    const out: string[] = [];
    for (let y = 0; y < this.term.rows; y++) out.push(b.getLine(b.viewportY + y)?.translateToString(true) ?? "");
    return out;
  }

  screen(): string {
    return this.lines().join("\n");
  }

  /** Every line of the active buffer (scrollback included) with its wrapped flag. */
  allLines(): Array<{ text: string; wrapped: boolean }> {
    const b = this.term.buffer.active;
    const out: Array<{ text: string; wrapped: boolean }> = [];
    for (let y = 0; y < b.length; y++) {
      const l = b.getLine(y);
      if (l) out.push({ text: l.translateToString(true), wrapped: l.isWrapped });
    }
    return out;
  }

  /** Rows of the visible screen a terminal had to wrap (a line longer than the width). */
  wrappedRows(): string[] {
    return this.allLines().filter((l) => l.wrapped).map((l) => l.text);
  }

  /** Cells of the visible screen drawn with a colour (foreground or background). */
  colouredCells(): number {
    const b = this.term.buffer.active;
    let n = 0;
    for (let y = 0; y < this.term.rows; y++) {
      const l = b.getLine(b.viewportY + y);
      if (!l) continue;
      for (let x = 0; x < this.term.cols; x++) {
        const c = l.getCell(x);
        if (c && (!c.isFgDefault() || !c.isBgDefault())) n++;
      }
    }
    return n;
  }

  /** The row (screen line index) whose text matches, and whether it is drawn inverse (selected). */
  rowInverse(y: number): boolean {
    const b = this.term.buffer.active;
    const l = b.getLine(b.viewportY + y);
    if (!l) return false;
    for (let x = 0; x < this.term.cols; x++) {
      const c = l.getCell(x);
      if (c && c.getChars().trim() !== "") return c.isInverse() !== 0;
    }
    return false;
  }

  get altScreen(): boolean {
    return this.term.buffer.active.type === "alternate";
  }

  write(data: string): void {
    this.pty.write(data);
  }

  resize(cols: number, rows: number): void {
    this.pty.resize(cols, rows);
    this.term.resize(cols, rows);
  }

  /** Wait until `pred(screen lines)` holds; the error shows the screen. */
  async waitUntil(pred: (lines: string[]) => boolean, what: string, timeoutMs = WAIT_MS): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      await this.settled();
      if (pred(this.lines())) return;
      if (Date.now() > deadline || this.exitCode !== undefined) {
        await this.settled();
        if (pred(this.lines())) return;
        throw new Error(`screen: timed out waiting for ${what}${this.exitCode !== undefined ? ` (exited ${this.exitCode})` : ""}; screen:\n${this.screen()}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  waitForText(needle: string | RegExp, timeoutMs?: number): Promise<void> {
    return this.waitUntil((ls) => {
      const s = ls.join("\n");
      return typeof needle === "string" ? s.includes(needle) : needle.test(s);
    }, String(needle), timeoutMs);
  }

  /** Send a signal to the program. */
  signal(sig: NodeJS.Signals): void {
    process.kill(this.pty.pid, sig);
  }

  kill(): void {
    try {
      this.pty.kill("SIGKILL");
    } catch {
      /* already gone */
    }
    this.term.dispose();
  }
}
