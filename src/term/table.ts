import { createRequire } from "node:module";
import type TableType from "cli-table3";
import { escapeText } from "./sanitize.js";

let Table: typeof TableType | undefined;

const PLAIN = {
  top: "", "top-mid": "", "top-left": "", "top-right": "",
  bottom: "", "bottom-mid": "", "bottom-left": "", "bottom-right": "",
  left: "", "left-mid": "", mid: "", "mid-mid": "", right: "", "right-mid": "", middle: "  ",
};

/**
 * A borderless table in the style of `kubectl get`: columns two spaces apart, no trailing
 * spaces. Every cell is escaped (`escapeText`): cells hold names, paths and models from outside.
 */
export function plainTable(head: readonly string[], rows: readonly (readonly string[])[]): string {
  Table ??= createRequire(import.meta.url)("cli-table3") as typeof TableType; // loaded by the first table, not by --json
  const table = new Table({ head: [...head], chars: PLAIN, style: { head: [], border: [], "padding-left": 0, "padding-right": 0 } });
  for (const r of rows) table.push(r.map((c) => escapeText(c)));
  return table.toString().replace(/ +$/gm, "") + "\n";
}
