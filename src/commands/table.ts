import Table from "cli-table3";

const PLAIN = {
  top: "", "top-mid": "", "top-left": "", "top-right": "",
  bottom: "", "bottom-mid": "", "bottom-left": "", "bottom-right": "",
  left: "", "left-mid": "", mid: "", "mid-mid": "", right: "", "right-mid": "", middle: "  ",
};

/** A borderless table in the style of `kubectl get`: columns two spaces apart, no trailing spaces. */
export function plainTable(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const table = new Table({ head: [...head], chars: PLAIN, style: { head: [], border: [], "padding-left": 0, "padding-right": 0 } });
  for (const r of rows) table.push([...r]);
  return table.toString().replace(/ +$/gm, "") + "\n";
}
