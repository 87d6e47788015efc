/**
 * Durations as people write them in flags and agents.yaml: a number and a unit, `30m`,
 * `6h`, `28d`, `4w` (also `90s`, and fractions such as `1.5h`). Used by the SLO windows and
 * report ranges.
 */
const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 };

/** ms of a duration like `28d`, or undefined when `raw` is not one. */
export function parseDuration(raw: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$/.exec(raw);
  if (!m) return undefined;
  const ms = Number(m[1]) * UNITS[m[2]!]!;
  return Number.isFinite(ms) && ms > 0 ? ms : undefined;
}

/** `28d`, `6h`, `1h30m`, `45s`: the shortest exact form of a duration. */
export function formatDuration(ms: number): string {
  for (const [u, n] of [["d", UNITS.d!], ["h", UNITS.h!], ["m", UNITS.m!]] as const) {
    if (ms >= n && ms % n === 0) return `${ms / n}${u}`;
  }
  if (ms >= UNITS.h! && ms % UNITS.m! === 0) return `${Math.floor(ms / UNITS.h!)}h${(ms % UNITS.h!) / UNITS.m!}m`;
  return `${ms / 1000}s`;
}
