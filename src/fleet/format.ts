/** Human formats shared by the fleet views. */

export function fmtDuration(sec: number | null): string {
  if (sec === null || !Number.isFinite(sec)) return "-";
  const s = Math.max(0, Math.round(sec));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
  return `${Math.floor(s / 86400)}d${Math.floor((s % 86400) / 3600)}h`;
}

export function fmtBytes(n: number | null): string {
  if (n === null) return "-";
  if (n < 1024 * 1024) return `${Math.round(n / 1024)}K`;
  if (n < 1024 * 1024 * 1024) return `${Math.round(n / (1024 * 1024))}M`;
  return `${(n / (1024 * 1024 * 1024)).toFixed(1)}G`;
}

export function fmtAgo(at: number | null, now: number): string {
  if (at === null) return "-";
  return `${fmtDuration(Math.max(0, (now - at) / 1000))} ago`;
}

export function fmtUsd(v: number | null): string {
  if (v === null || !Number.isFinite(v)) return "-";
  return v >= 100 ? `$${v.toFixed(0)}` : v >= 1 ? `$${v.toFixed(2)}` : `$${v.toFixed(v === 0 ? 0 : 3)}`;
}

export function fmtNum(v: number | null, digits = 0): string {
  if (v === null || !Number.isFinite(v)) return "-";
  if (v === 0) return "0";
  return v.toFixed(digits);
}
