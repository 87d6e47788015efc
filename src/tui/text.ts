import cliTruncate from "cli-truncate";
import stringWidth from "string-width";

/**
 * Display widths for a terminal grid. Fields from outside are escaped (`escapeText`) before
 * they get here, so they hold no control characters; what is left to measure is wide
 * (East Asian, emoji) and zero-width text, which `string-width` knows and `.length` does not.
 */

const ASCII = /^[\x20-\x7e]*$/;

/**
 * Widths of non-ASCII strings already measured: a view draws the same separators (` · `),
 * sparklines and names every refresh, and `string-width` segments each one by graphemes.
 * Bounded: cleared whole when it holds this many strings.
 */
export const MAX_WIDTH_CACHE = 2048;
const widths = new Map<string, number>();

/** Columns `text` takes on a terminal (no control characters in it). */
export function textWidth(text: string): number {
  if (ASCII.test(text)) return text.length;
  let w = widths.get(text);
  if (w === undefined) {
    w = stringWidth(text);
    if (widths.size >= MAX_WIDTH_CACHE) widths.clear();
    widths.set(text, w);
  }
  return w;
}

/** `text` cut to at most `width` columns, an ellipsis marking the cut. */
export function clip(text: string, width: number): string {
  if (width <= 0) return "";
  if (textWidth(text) <= width) return text;
  return cliTruncate(text, width, { position: "end", truncationCharacter: "…" });
}

/** `text` cut or padded to exactly `width` columns. */
export function fit(text: string, width: number, align: "left" | "right" = "left"): string {
  const cut = clip(text, width);
  const pad = Math.max(0, width - textWidth(cut));
  return align === "right" ? " ".repeat(pad) + cut : cut + " ".repeat(pad);
}

/** Split `text` into lines of at most `width` columns at spaces (a word longer than a line is cut). */
export function wrapWords(text: string, width: number): string[] {
  const out: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    const next = line === "" ? word : `${line} ${word}`;
    if (textWidth(next) <= width) line = next;
    else {
      if (line !== "") out.push(line);
      line = clip(word, width);
    }
  }
  if (line !== "" || out.length === 0) out.push(line);
  return out;
}
