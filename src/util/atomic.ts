import { closeSync, fsyncSync, lstatSync, openSync, readdirSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { isPidAlive } from "./pid.js";

let counter = 0;

/**
 * A temp file of a writer killed mid-write (SIGKILL, power loss) is removed by the next write
 * of the same file once its writer is gone, or once it is this old whatever its pid says
 * (a pid can be reused; no write takes minutes).
 */
export const STALE_TMP_MS = 10 * 60_000;

/** `.<name>.<pid>.<ms>.<n>.tmp`: the temp files `writeFileAtomicSync` creates next to `name`. */
function tempPattern(name: string): RegExp {
  return new RegExp(`^\\.${name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\.(\\d+)\\.(\\d+)\\.\\d+\\.tmp$`);
}

/** Remove temp files left next to `path` by writers that died (see STALE_TMP_MS). Returns how many. */
export function removeStaleTemps(path: string, now = Date.now()): number {
  const dir = dirname(path);
  const re = tempPattern(basename(path));
  let removed = 0;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return 0;
  }
  for (const name of names) {
    const m = re.exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    const at = Number(m[2]);
    if (pid === process.pid || (isPidAlive(pid) && now - at < STALE_TMP_MS)) continue;
    try {
      if (!lstatSync(join(dir, name)).isDirectory()) {
        unlinkSync(join(dir, name));
        removed++;
      }
    } catch {
      /* gone meanwhile */
    }
  }
  return removed;
}

/**
 * Write `data` to `path` atomically: a temp file in the same directory is written,
 * flushed, then renamed over the target, so readers see either the old or the new
 * content, never a partial file. Errors (ENOSPC, EACCES, EROFS, …) propagate unchanged
 * and the temp file is removed; temp files of writers that died are cleaned up first.
 */
export function writeFileAtomicSync(path: string, data: string | Uint8Array, mode = 0o600): void {
  removeStaleTemps(path);
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now()}.${counter++}.tmp`);
  let fd: number | undefined;
  try {
    fd = openSync(tmp, "wx", mode);
    const buf = typeof data === "string" ? Buffer.from(data, "utf8") : data;
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
  } catch (err) {
    if (fd !== undefined) {
      try {
        closeSync(fd);
      } catch {
        /* already failing */
      }
    }
    try {
      unlinkSync(tmp);
    } catch {
      /* never created */
    }
    throw err;
  }
}
