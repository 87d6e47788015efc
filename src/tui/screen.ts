import type { OutputStream } from "../shell/command.js";
import { clip, textWidth } from "./text.js";

/**
 * The full-screen surface of the live view: the alternate screen, drawn line by line with
 * only the lines that changed rewritten (inside a synchronized-output bracket, so a terminal
 * that supports it shows each frame at once, and one that does not still never sees a
 * cleared screen), and a terminal given back as it was on every way out.
 *
 * Every text handed to it must already be escaped (`escapeText`): this module adds the only
 * control sequences that reach the terminal, its own.
 */

export type Style =
  | "head"
  | "title"
  | "dim"
  | "bold"
  | "key"
  | "active"
  | "idle"
  | "waiting"
  | "stuck"
  | "breach"
  | "exited"
  | "error"
  | "ok"
  | "warn";

/** A piece of a line: escaped text and how it is drawn. */
export interface Segment {
  text: string;
  style?: Style;
}

/** One line of the screen; `selected` draws it in reverse video across the whole width. */
export interface Line {
  segments: Segment[];
  selected?: boolean;
}

/** SGR parameters of each style, in colour and without (`NO_COLOR`: attributes only). */
const SGR_COLOUR: Record<Style, string> = {
  head: "1",
  title: "1;36",
  dim: "2",
  bold: "1",
  key: "1;36",
  active: "32",
  idle: "",
  waiting: "33",
  stuck: "1;35",
  breach: "1;31",
  exited: "2",
  error: "31",
  ok: "32",
  warn: "33",
};
const SGR_PLAIN: Record<Style, string> = {
  head: "1",
  title: "1",
  dim: "2",
  bold: "1",
  key: "1",
  active: "",
  idle: "",
  waiting: "",
  stuck: "1",
  breach: "1",
  exited: "2",
  error: "1",
  ok: "",
  warn: "",
};

/** Colour unless `NO_COLOR` is set to anything non-empty (no-color.org) or the terminal is `dumb`. */
export function colourWanted(env: NodeJS.ProcessEnv): boolean {
  return !env.NO_COLOR && env.TERM !== "dumb";
}

export const text = (t: string, style?: Style): Segment => (style ? { text: t, style } : { text: t });
export const line = (...segments: Segment[]): Line => ({ segments });

const ENTER = "\x1b[?1049h\x1b[?25l\x1b[H\x1b[2J";
const LEAVE = "\x1b[?2026l\x1b[0m\x1b[?25h\x1b[?1049l";
const SYNC_ON = "\x1b[?2026h";
const SYNC_OFF = "\x1b[?2026l";

/** A line drawn for a terminal `cols` wide: cut to fit, styled, never wider than `cols`. */
export function renderLine(l: Line, cols: number, colour: boolean): { out: string; width: number } {
  const table = colour ? SGR_COLOUR : SGR_PLAIN;
  const base = l.selected ? "7" : "";
  let out = l.selected ? "\x1b[7m" : "";
  let width = 0;
  for (const s of l.segments) {
    if (width >= cols) break;
    const piece = clip(s.text, cols - width);
    if (piece === "") continue;
    const sgr = s.style ? table[s.style] : "";
    if (sgr) out += `\x1b[${[base, sgr].filter(Boolean).join(";")}m${piece}\x1b[0${base ? ";" + base : ""}m`;
    else out += piece;
    width += textWidth(piece);
  }
  if (l.selected) {
    out += " ".repeat(Math.max(0, cols - width)) + "\x1b[0m";
    width = cols;
  }
  return { out, width };
}

export class Screen {
  private prev: string[] = [];
  private active = false;
  private clearNext = false;

  constructor(
    private readonly out: OutputStream,
    private readonly colour: boolean,
  ) {}

  get cols(): number {
    return Math.max(20, this.out.columns ?? 80);
  }

  get rows(): number {
    return Math.max(5, this.out.rows ?? 24);
  }

  get isActive(): boolean {
    return this.active;
  }

  enter(): void {
    if (this.active) return;
    this.active = true;
    this.prev = [];
    this.out.write(ENTER);
  }

  /** The next frame redraws every line (after a resize). */
  invalidate(): void {
    this.prev = [];
    this.clearNext = true;
  }

  /** Draw a frame: `lines` beyond the screen's height are not drawn, missing ones are blank. */
  draw(lines: readonly Line[]): void {
    if (!this.active) return;
    const cols = this.cols;
    const rows = this.rows;
    let buf = this.clearNext ? "\x1b[H\x1b[2J" : "";
    this.clearNext = false;
    const next: string[] = [];
    for (let y = 0; y < rows; y++) {
      const l = lines[y];
      const { out, width } = l ? renderLine(l, cols, this.colour) : { out: "", width: 0 };
      // erase to the end of the line only when the text stops short of the last column:
      // after a full-width line the cursor waits on the last cell, and an erase would take it
      const drawn = out + (width < cols ? "\x1b[K" : "");
      next.push(drawn);
      if (this.prev[y] !== drawn) buf += `\x1b[${y + 1};1H${drawn}`;
    }
    this.prev = next;
    if (buf !== "") this.out.write(SYNC_ON + buf + SYNC_OFF);
  }

  /** Give the terminal back: normal screen, cursor shown, attributes reset. Safe to call twice. */
  leave(): void {
    if (!this.active) return;
    this.active = false;
    try {
      this.out.write(LEAVE);
    } catch {
      /* the terminal is gone */
    }
  }
}
