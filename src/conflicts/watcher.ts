import { sep } from "node:path";
import { watch, type FSWatcher } from "chokidar";
import type { FleetAgent } from "../fleet/model.js";
import { processFilesOpenForWrite } from "../fleet/procfs.js";
import type { AgentRef, WriteEvent } from "./model.js";
import { normalizePath } from "./paths.js";
import { refOf } from "./sources.js";

/** Directories never worth watching in a repository (build output, dependencies, VCS internals). */
export const IGNORED_DIRS = new Set([".git", "node_modules", ".venv", "venv", "__pycache__", "dist", "build", "target", ".next", ".cache"]);

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

  /** Watch exactly these roots (adds new ones, closes the rest). */
  async setRoots(roots: Iterable<string>): Promise<void> {
    const want = new Set(roots);
    for (const [root, w] of this.watchers) {
      if (!want.has(root)) {
        this.watchers.delete(root);
        await w.close();
      }
    }
    for (const root of want) {
      if (this.watchers.has(root)) continue;
      const w = watch(root, {
        ignoreInitial: true,
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
      await new Promise<void>((resolve) => w.once("ready", () => resolve()));
    }
  }

  async close(): Promise<void> {
    for (const w of this.watchers.values()) await w.close();
    this.watchers.clear();
  }
}
