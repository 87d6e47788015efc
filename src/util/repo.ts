import { existsSync } from "node:fs";
import { dirname, join } from "node:path";

/** The repository root of a working directory: the nearest ancestor holding `.git`, else the directory itself. */
export function repoRoot(cwd: string): string {
  for (let dir = cwd; ; dir = dirname(dir)) {
    if (existsSync(join(dir, ".git"))) return dir;
    if (dirname(dir) === dir) return cwd;
  }
}
