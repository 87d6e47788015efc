import { spawnSync } from "node:child_process";

/** promtool from Debian's `prometheus` package; CI installs it, so there its absence is a failure. */
export function promtool(): string | null {
  const r = spawnSync("promtool", ["--version"], { encoding: "utf8" });
  if (r.status === 0) return "promtool";
  if (process.env.CI) throw new Error("promtool is not installed (apt-get install prometheus)");
  return null;
}
