import { escapeText } from "../term/sanitize.js";
import { fit, textWidth } from "./text.js";

/**
 * A table that fits a terminal width without wrapping: columns are shortened, then
 * dropped, in a stated priority. Shared by the one-shot `/agents` table and the live view.
 */
export interface ColumnSpec {
  head: string;
  /** Never dropped (the row must stay identifiable). */
  keep?: boolean;
  /** Dropped in ascending order when the table is too wide (ignored with `keep`). */
  drop?: number;
  /** Shortened (with an ellipsis) before anything is dropped, down to this width… */
  soft?: number;
  /** …and, when dropping was not enough, down to this one. */
  min?: number;
  align?: "left" | "right";
}

export const COLUMN_GAP = 2;

export interface FittedTable {
  /** Indexes of the columns shown, in order. */
  shown: number[];
  /** Width of each shown column. */
  widths: number[];
  /** Heads of the dropped columns, in the order they were dropped. */
  dropped: string[];
}

function total(widths: readonly number[]): number {
  return widths.reduce((a, b) => a + b, 0) + COLUMN_GAP * Math.max(0, widths.length - 1);
}

/**
 * Choose columns and widths so the table takes at most `width` columns:
 * 1. shortenable columns go down to their `soft` width;
 * 2. columns are dropped by ascending `drop` until the rest fits;
 * 3. shortenable columns go down to their `min` width;
 * then any room left goes back to the shortened columns, up to their natural width.
 * Below the narrowest this allows, the caller clips each line.
 */
export function fitColumns(specs: readonly ColumnSpec[], natural: readonly number[], width: number): FittedTable {
  const cur = specs.map((s, i) => Math.max(textWidth(s.head), natural[i] ?? 0));
  const nat = [...cur];
  let shown = specs.map((_, i) => i);
  const dropped: string[] = [];
  const sum = () => total(shown.map((i) => cur[i]!));
  if (sum() > width) {
    for (const i of shown) if (specs[i]!.soft !== undefined) cur[i] = Math.min(cur[i]!, Math.max(specs[i]!.soft!, textWidth(specs[i]!.head)));
    const order = shown.filter((i) => !specs[i]!.keep && specs[i]!.drop !== undefined).sort((a, b) => specs[a]!.drop! - specs[b]!.drop!);
    for (const i of order) {
      if (sum() <= width) break;
      shown = shown.filter((x) => x !== i);
      dropped.push(specs[i]!.head);
    }
    for (const i of shown) {
      if (sum() <= width) break;
      const s = specs[i]!;
      if (s.min !== undefined) cur[i] = Math.max(s.min, cur[i]! - (sum() - width));
    }
    // give room back to the shortened columns, first come first served
    for (const i of shown) {
      const room = width - sum();
      if (room <= 0) break;
      cur[i] = Math.min(nat[i]!, cur[i]! + room);
    }
  }
  return { shown, widths: shown.map((i) => cur[i]!), dropped };
}

/** One line of a fitted table (trailing spaces trimmed). Cells must already be escaped. */
export function tableLine(specs: readonly ColumnSpec[], t: FittedTable, cells: readonly string[]): string {
  return t.shown
    .map((i, k) => fit(cells[i] ?? "", t.widths[k]!, specs[i]!.align ?? "left"))
    .join(" ".repeat(COLUMN_GAP))
    .replace(/ +$/, "");
}

/** A whole table fitted to `width`: a head line, then one line per row. Every cell is escaped here. */
export function fittedTable(specs: readonly ColumnSpec[], rows: readonly (readonly string[])[], width: number): { lines: string[]; fitted: FittedTable } {
  const safe = rows.map((r) => r.map((c) => escapeText(c)));
  const natural = specs.map((_, i) => safe.reduce((m, r) => Math.max(m, textWidth(r[i] ?? "")), 0));
  const fitted = fitColumns(specs, natural, width);
  const lines = [tableLine(specs, fitted, specs.map((s) => s.head)), ...safe.map((r) => tableLine(specs, fitted, r))];
  return { lines, fitted };
}
