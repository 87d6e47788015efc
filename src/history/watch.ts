import { watch, type FSWatcher } from "node:fs";
import { basename, dirname, join } from "node:path";

/**
 * What changed in the transcript folders since the last look, for a long-lived process (the
 * watchdog, the shell, the dashboard): the folders holding transcripts are watched (inotify on
 * Linux, through `fs.watch`), so a refresh stats only the files the kernel reported written,
 * instead of listing every folder and statting every file (that was most of a refresh's cost,
 * and grows with the history kept on disk).
 *
 * Whatever the watch cannot vouch for sends the next refresh back to a full look: an entry
 * created, removed or renamed in a watched folder (a new session, a replaced file), an event
 * without a name, a watcher error, more changed files than MAX_CHANGED, more folders than
 * MAX_WATCHED_DIRS, and every FULL_LOOK_MS in any case (filesystems that send no events, such
 * as network mounts, are still read within that time).
 */

/** Folders watched at most (each an inotify watch, a per-user kernel resource shared with other tools). */
export const MAX_WATCHED_DIRS = 512;
/** Changed files remembered between refreshes; past it the next refresh looks at everything. */
export const MAX_CHANGED = 10_000;
/** A full look (list every folder, stat every file) at least this often. */
export const FULL_LOOK_MS = 5 * 60_000;

export class TranscriptWatch {
  private readonly watchers = new Map<string, FSWatcher>();
  private readonly changed = new Set<string>();
  private full = true;
  private lastFull = -Infinity;

  constructor(private readonly now: () => number = Date.now) {}

  /** True when the next refresh must list and stat everything (then call `watchAll` with what it found). */
  needsFullLook(): boolean {
    return this.full || this.now() - this.lastFull >= FULL_LOOK_MS;
  }

  /** Files reported written since the last call (only while no full look is needed). */
  take(): string[] {
    const out = [...this.changed];
    this.changed.clear();
    return out;
  }

  /** After a full look: watch the folders of these transcripts (and their parents, where new session folders appear). */
  watchAll(paths: readonly string[]): void {
    this.changed.clear();
    this.full = false;
    this.lastFull = this.now();
    const dirs = new Set<string>();
    for (const p of paths) {
      const d = dirname(p);
      dirs.add(d);
      dirs.add(dirname(d));
    }
    if (dirs.size > MAX_WATCHED_DIRS) {
      this.close();
      this.full = true; // too many folders to watch: every refresh looks at everything, as without a watch
      return;
    }
    for (const [d, w] of this.watchers) {
      if (dirs.has(d)) continue;
      w.close();
      this.watchers.delete(d);
    }
    for (const d of dirs) {
      if (this.watchers.has(d)) continue;
      let w: FSWatcher;
      try {
        w = watch(d, { persistent: false }, (event, name) => this.onEvent(d, event, name));
      } catch {
        continue; // gone or unreadable: the next full look finds what is there
      }
      w.on("error", () => {
        w.close();
        this.watchers.delete(d);
        this.full = true;
      });
      this.watchers.set(d, w);
    }
  }

  private onEvent(dir: string, event: string, name: string | Buffer | null): void {
    if (event !== "change" || name === null) {
      this.full = true; // created, removed or renamed: a new transcript or a replaced one
      return;
    }
    if (this.changed.size >= MAX_CHANGED) {
      this.full = true;
      return;
    }
    this.changed.add(join(dir, basename(String(name))));
  }

  /** Ask for a full look at the next refresh (a new place to look, such as an Aider repository). */
  invalidate(): void {
    this.full = true;
  }

  close(): void {
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
  }
}
