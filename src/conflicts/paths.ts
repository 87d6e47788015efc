import { realpathSync } from "node:fs";
import { basename, dirname, isAbsolute, join, resolve } from "node:path";

/**
 * One spelling per file, so `services/auth.py` in one agent's cwd and the absolute path
 * from another meet: resolved against `cwd`, then symlinks resolved on the longest
 * existing prefix (the file itself may not exist yet, or may have been deleted).
 */
export function normalizePath(path: string, cwd?: string | null): string {
  const abs = isAbsolute(path) ? resolve(path) : resolve(cwd ?? "/", path);
  let head = abs;
  const tail: string[] = [];
  for (;;) {
    try {
      const real = realpathSync(head);
      return tail.length ? join(real, ...tail.reverse()) : real;
    } catch {
      const up = dirname(head);
      if (up === head) return abs;
      tail.push(basename(head));
      head = up;
    }
  }
}

/** Memoised per directory: a million events must not cost a million realpath calls. */
export class PathNormalizer {
  private readonly dirs = new Map<string, string>();
  normalize(path: string, cwd?: string | null): string {
    const abs = isAbsolute(path) ? resolve(path) : resolve(cwd ?? "/", path);
    const dir = dirname(abs);
    let real = this.dirs.get(dir);
    if (real === undefined) {
      real = normalizePath(dir);
      if (this.dirs.size > 50_000) this.dirs.clear();
      this.dirs.set(dir, real);
    }
    return join(real, basename(abs));
  }
}
