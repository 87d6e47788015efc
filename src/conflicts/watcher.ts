import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join, sep } from "node:path";
import { watch, type FSWatcher } from "chokidar";
import type { FleetAgent } from "../fleet/model.js";
import { processFilesOpenForWrite } from "../fleet/procfs.js";
import type { AgentRef, WriteEvent } from "./model.js";
import { normalizePath } from "./paths.js";
import { refOf } from "./sources.js";

/** Directories never worth watching in a repository (build output, dependencies, VCS internals). */
export const IGNORED_DIRS = new Set([".git", "node_modules", ".venv", "venv", "__pycache__", "dist", "build", "target", ".next", ".cache"]);

/**
 * Repositories watched on disk at most: each costs inotify watches (one per directory) out
 * of the user's limit (often 8,192 to 65,536 in all), shared with editors and build tools.
 */
export const MAX_WATCH_ROOTS = 16;
/** Directory levels watched below a repository root: source trees rarely go deeper; generated trees do. */
export const MAX_WATCH_DEPTH = 16;

/** A directory the disk watcher may watch: the git repository around `cwd`, or why not. */
export function watchRoot(cwd: string, home = homedir()): { root: string } | { refused: string } {
  for (let dir = cwd; ; dir = dirname(dir)) {
    if (existsSync(join(dir, ".git"))) {
      // a repository at / or at the home directory (dotfiles) is the whole disk or the whole home
      if (dir === "/" || dir === home) return { refused: `${dir} is ${dir === "/" ? "the root of the file system" : "the home directory"}` };
      return { root: dir };
    }
    if (dirname(dir) === dir) return { refused: `${cwd} is not inside a git repository` };
  }
}

/**
 * The roots to watch for these working directories (agent label → cwd), deduplicated and at
 * most MAX_WATCH_ROOTS; every cwd left out is named with the reason, for a warning.
 */
export function chooseWatchRoots(cwds: Iterable<{ label: string; cwd: string }>, home = homedir()): { roots: Set<string>; refused: Array<{ label: string; why: string }> } {
  const roots = new Set<string>();
  const refused: Array<{ label: string; why: string }> = [];
  for (const { label, cwd } of cwds) {
    const r = watchRoot(cwd, home);
    if ("refused" in r) refused.push({ label, why: r.refused });
    else if (roots.has(r.root)) continue;
    else if (roots.size >= MAX_WATCH_ROOTS) refused.push({ label, why: `over ${MAX_WATCH_ROOTS} repositories are watched already` });
    else roots.add(r.root);
  }
  return { roots, refused };
}

export interface Attribution {
  /** Agents holding the path open for writing right now. */
  writers(path: string): AgentRef[];
}

/** Attribution from `/proc/<pid>/fd` + `fdinfo`: only processes that hold the file open for writing. */
export function procAttribution(agents: readonly FleetAgent[], procRoot?: string): Attribution {
  return {
    writers(path) {
      const out: AgentRef[] = [];
      for (const a of agents) if (processFilesOpenForWrite(a.pid, procRoot).some((f) => f === path)) out.push(refOf(a));
      return out;
    },
  };
}

/**
 * Watches the repository root of each agent (its cwd up to `.git`) with chokidar and turns
 * every change into a write event, attributed to an agent only with evidence: the process
 * holds the file open for writing, or (checked by the caller) its transcript names it.
 * Without evidence the event is unattributed: never a write by every agent in the repo.
 */
export class RepoWatcher {
  private readonly watchers = new Map<string, FSWatcher>();
  constructor(
    private readonly onWrite: (e: WriteEvent) => void,
    private readonly attribution: () => Attribution,
    private readonly onError: (message: string) => void = () => undefined,
  ) {}

  /**
   * Watch exactly these roots (adds new ones, closes the rest), each at most MAX_WATCH_DEPTH
   * levels deep. Resolves early when `signal` aborts: a large tree's first scan never holds up
   * Ctrl+C.
   */
  async setRoots(roots: Iterable<string>, signal?: AbortSignal): Promise<void> {
    const want = new Set(roots);
    for (const [root, w] of this.watchers) {
      if (!want.has(root)) {
        this.watchers.delete(root);
        await w.close();
      }
    }
    for (const root of want) {
      if (signal?.aborted) return;
      if (this.watchers.has(root)) continue;
      const w = watch(root, {
        ignoreInitial: true,
        depth: MAX_WATCH_DEPTH,
        ignored: (p: string) => p.split(sep).some((part) => IGNORED_DIRS.has(part)),
        awaitWriteFinish: false,
        followSymlinks: false,
      });
      const handle = (path: string) => {
        try {
          const norm = normalizePath(path);
          const writers = this.attribution().writers(norm);
          const at = Date.now();
          if (writers.length === 0) this.onWrite({ path: norm, at, agent: null, source: "fs", via: "changed on disk" });
          for (const agent of writers) this.onWrite({ path: norm, at, agent, source: "fs", via: "open for writing" });
        } catch (err) {
          this.onError(`${path}: ${(err as Error).message}`);
        }
      };
      w.on("add", handle).on("change", handle).on("unlink", handle);
      w.on("error", (err) => this.onError(`watching ${root}: ${(err as Error).message}`));
      this.watchers.set(root, w);
      await new Promise<void>((resolve) => {
        const done = () => {
          signal?.removeEventListener("abort", done);
          resolve();
        };
        w.once("ready", done);
        signal?.addEventListener("abort", done, { once: true });
      });
    }
  }

  async close(): Promise<void> {
    for (const w of this.watchers.values()) await w.close();
    this.watchers.clear();
  }
}
