import { readFileSync, statSync } from "node:fs";
import { isAbsolute, join, resolve } from "node:path";
import { repoRoot } from "../util/repo.js";

/** The git directory of a worktree root (`.git` is a directory, or a file `gitdir: …` in linked worktrees). */
export function gitDir(root: string): string | null {
  const dotgit = join(root, ".git");
  try {
    if (statSync(dotgit).isDirectory()) return dotgit;
    const m = /^gitdir:\s*(.+)$/m.exec(readFileSync(dotgit, "utf8"));
    if (m) return isAbsolute(m[1]!.trim()) ? m[1]!.trim() : resolve(root, m[1]!.trim());
  } catch {
    /* not a repository */
  }
  return null;
}

/** The branch checked out in the worktree containing `dir`, from `HEAD` (no git process); null when detached or no repo. */
export function currentBranch(dir: string): { root: string; branch: string } | null {
  const root = repoRoot(dir);
  const gd = gitDir(root);
  if (!gd) return null;
  try {
    const m = /^ref:\s*refs\/heads\/(.+)$/m.exec(readFileSync(join(gd, "HEAD"), "utf8"));
    return m ? { root, branch: m[1]!.trim() } : null;
  } catch {
    return null;
  }
}
