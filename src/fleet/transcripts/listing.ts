import { statSync } from "node:fs";
import { readdir } from "node:fs/promises";

/** The names in one directory, split by kind (from the directory entry's type: no stat per entry). */
export interface DirListing {
  files: readonly string[];
  dirs: readonly string[];
}

/**
 * Names kept across all cached directories (~60 bytes each: a 100k-session folder costs ~6 MB).
 * Past it, the least recently used directories are let go and listed again when next needed.
 */
export const MAX_CACHED_NAMES = 500_000;
/** The bounds in force (tests lower them to push past them without creating 500k files). */
export const listingLimits = { maxCachedNames: MAX_CACHED_NAMES };
/**
 * A directory modified this recently may change again within the same timestamp tick (the
 * kernel's clock for file times is coarse), so its listing is not trusted on the next look.
 */
export const RACY_SLACK_MS = 2_000;

interface Cached extends DirListing {
  ino: number;
  mtimeMs: number;
  ctimeMs: number;
  /** When the directory was last found unchanged (or read). */
  checkedAt: number;
}

const cache = new Map<string, Cached>();
let cachedNames = 0;

/** Counters for tests and benchmarks: directories looked at (one stat each), read in full, and answered from the cache. */
export const listingStats = { looks: 0, readdirs: 0, reused: 0 };

/**
 * Lists a directory, reusing the previous listing while the directory itself is unchanged
 * (same inode, mtime and ctime: no entry created, removed or renamed). A folder of 100k
 * session files costs one `stat` per look instead of reading 100k entries again. Files
 * appended to in place do not change their directory: callers stat the files they track.
 * Empty when the directory does not exist or cannot be read.
 */
export async function listDir(dir: string, now = Date.now()): Promise<DirListing> {
  let st;
  listingStats.looks++;
  try {
    // one synchronous stat: through the thread pool and a promise it costs several times more
    st = statSync(dir, { throwIfNoEntry: false });
  } catch {
    st = undefined;
  }
  if (!st) {
    forget(dir);
    return { files: [], dirs: [] };
  }
  const hit = cache.get(dir);
  if (hit && hit.ino === st.ino && hit.mtimeMs === st.mtimeMs && hit.ctimeMs === st.ctimeMs) {
    hit.checkedAt = now;
    cache.delete(dir);
    cache.set(dir, hit); // most recently used last
    listingStats.reused++;
    return hit;
  }
  forget(dir);
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return { files: [], dirs: [] };
  }
  listingStats.readdirs++;
  const files: string[] = [];
  const dirs: string[] = [];
  for (const e of entries) {
    if (e.isFile()) files.push(e.name);
    else if (e.isDirectory()) dirs.push(e.name);
  }
  const listing: Cached = { files, dirs, ino: st.ino, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, checkedAt: now };
  if (now - st.mtimeMs > RACY_SLACK_MS) {
    cache.set(dir, listing); // the very object returned: what is derived from it now is kept with it
    cachedNames += files.length + dirs.length;
    for (const [d, c] of cache) {
      if (cachedNames <= listingLimits.maxCachedNames) break;
      forget(d, c);
    }
  }
  return listing;
}

/**
 * The kept listing of `dir` if it was found unchanged (or read) at or after `since`, without
 * looking at the directory again: what a caller that listed it moments ago may rely on.
 */
export function recentListing(dir: string, since: number): DirListing | undefined {
  const c = cache.get(dir);
  return c && c.checkedAt >= since ? c : undefined;
}

const derived = new WeakMap<DirListing, Map<string, unknown>>();

/**
 * A value computed from a listing (the full paths of its transcript files), kept with the
 * cached listing: while a folder is unchanged, a refresh reuses the same path strings instead of
 * joining and filtering 100k names again (and the same strings keep their hash for map lookups).
 */
export function derive<T>(listing: DirListing, key: string, compute: () => T): T {
  let m = derived.get(listing);
  if (!m) derived.set(listing, (m = new Map()));
  if (!m.has(key)) m.set(key, compute());
  return m.get(key) as T;
}

function forget(dir: string, c = cache.get(dir)): void {
  if (!c) return;
  cache.delete(dir);
  cachedNames -= c.files.length + c.dirs.length;
}

/** Drops every cached listing (tests). */
export function clearListingCache(): void {
  cache.clear();
  cachedNames = 0;
}
