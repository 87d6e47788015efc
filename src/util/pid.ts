/** True when a process with this pid exists (EPERM means it exists but belongs to someone else). */
export function isPidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Parse a strictly positive decimal integer pid; returns undefined for anything else ("12x",
 * "-1", "0", "1e3", and " 42 ": a pid with spaces around it is not what was meant to be typed).
 */
export function parsePid(raw: string): number | undefined {
  if (!/^[0-9]+$/.test(raw)) return undefined;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n <= 0 || n > 0x7fffffff) return undefined;
  return n;
}
