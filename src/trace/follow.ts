import { constants, watch, type FSWatcher } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";

/** Read size per syscall: large enough for bursts, small enough to keep memory flat. */
export const READ_CHUNK_BYTES = 64 * 1024;
/**
 * When a writer is this far ahead of us, skip to its newest bytes instead of reading
 * everything: a repaint shows only the newest 64 KiB, so older bytes would be read only
 * to be dropped (a flood then costs a bounded read per cycle, not the writer's full rate).
 */
export const MAX_BEHIND_BYTES = 256 * 1024;
/** Poll interval bounds: quick while output flows, slow when idle (change notifications wake us sooner). */
export const POLL_MIN_MS = 25;
/** Reads are at least this far apart, however many change notifications arrive: bounds wake-ups under a chatty writer. */
export const MIN_READ_INTERVAL_MS = 20;
export const POLL_MAX_MS = 1000;

export type FollowEvent =
  | { type: "data"; chunk: Buffer }
  | { type: "skipped"; bytes: number }
  | { type: "truncated"; size: number };

export interface FollowOptions {
  /** Start at the beginning of the last N lines instead of the end of the file. */
  tailLines?: number;
  signal: AbortSignal;
  onEvent(e: FollowEvent): void;
  /** Checked after each catch-up to the end of the file: true ends the follow (e.g. the writer exited). */
  shouldStop?: () => boolean;
  /** Called once the file is open and positioned: output written from now on will be shown. */
  onReady?: () => void;
  /**
   * Open this instead of `path` (still named `path` in messages): `/proc/<pid>/fd/1`, the
   * process's own descriptor. The name it resolves to can be another file for a process in
   * another mount namespace (wrong contents, or a FIFO that would hang the open).
   */
  openPath?: string;
  /** The file must be this one (device and inode as resolved): a descriptor re-pointed meanwhile is refused. */
  expect?: { dev: number; ino: number };
}

/** Why a follow could not start: the path is not (or no longer) the regular file expected. */
export class FollowError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FollowError";
  }
}

async function lastLinesOffset(fh: FileHandle, size: number, lines: number): Promise<number> {
  if (lines <= 0 || size === 0) return size;
  const buf = Buffer.alloc(READ_CHUNK_BYTES);
  let pos = size;
  let seen = 0;
  // A trailing newline ends the last line; it does not start a new one.
  let skipTrailing = true;
  while (pos > 0 && size - pos < MAX_BEHIND_BYTES) {
    const len = Math.min(buf.length, pos);
    pos -= len;
    const { bytesRead } = await fh.read(buf, 0, len, pos);
    for (let i = bytesRead - 1; i >= 0; i--) {
      if (buf[i] !== 0x0a) {
        skipTrailing = false;
        continue;
      }
      if (skipTrailing) {
        skipTrailing = false;
        continue;
      }
      if (++seen === lines) return pos + i + 1;
    }
  }
  return Math.max(pos, size - MAX_BEHIND_BYTES);
}

/**
 * Follow a file like `tail -f`: from its end (or its last N lines), reading appended bytes
 * as change notifications arrive, with an adaptive poll as a fallback (no busy loop).
 * Truncation (size below our offset) resumes from the new end. Follows the descriptor, so
 * a renamed or deleted file keeps being followed until the writer stops.
 * Resolves when `signal` aborts; the descriptor is closed before it resolves.
 */
export async function followFile(path: string, opts: FollowOptions): Promise<void> {
  const source = opts.openPath ?? path;
  // never blocks: a FIFO at the path is refused below instead of hanging the open
  const fh = await open(source, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new FollowError(`${path} is not a regular file; live tail not supported`);
    if (opts.expect && (st.dev !== opts.expect.dev || st.ino !== opts.expect.ino)) throw new FollowError(`${path} changed while it was being opened (another file is there now)`);
  } catch (err) {
    await fh.close();
    throw err;
  }
  let watcher: FSWatcher | undefined;
  let wake: (() => void) | null = null;
  const onAbort = () => wake?.();
  opts.signal.addEventListener("abort", onAbort, { once: true });
  try {
    const st = await fh.stat();
    let offset = opts.tailLines !== undefined ? await lastLinesOffset(fh, st.size, opts.tailLines) : st.size;
    try {
      watcher = watch(source, { persistent: false }, () => wake?.());
      watcher.on("error", () => undefined);
    } catch {
      watcher = undefined; // poll only
    }
    opts.onReady?.();
    const buf = Buffer.alloc(READ_CHUNK_BYTES);
    let pollMs = POLL_MIN_MS;
    while (!opts.signal.aborted) {
      const { size } = await fh.stat();
      if (size < offset) {
        offset = size;
        opts.onEvent({ type: "truncated", size });
      }
      if (size - offset > MAX_BEHIND_BYTES) {
        const skip = size - offset - MAX_BEHIND_BYTES;
        offset += skip;
        opts.onEvent({ type: "skipped", bytes: skip });
      }
      let got = false;
      while (offset < size && !opts.signal.aborted) {
        const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, size - offset), offset);
        if (bytesRead === 0) break;
        offset += bytesRead;
        got = true;
        opts.onEvent({ type: "data", chunk: Buffer.from(buf.subarray(0, bytesRead)) });
      }
      pollMs = got ? POLL_MIN_MS : Math.min(POLL_MAX_MS, pollMs * 2);
      if (opts.signal.aborted || (!got && opts.shouldStop?.())) break;
      await new Promise<void>((resolve) => setTimeout(resolve, MIN_READ_INTERVAL_MS));
      if (opts.signal.aborted) break;
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, pollMs);
        function done() {
          clearTimeout(t);
          wake = null;
          resolve();
        }
        wake = done;
      });
    }
  } finally {
    opts.signal.removeEventListener("abort", onAbort);
    watcher?.close();
    await fh.close();
  }
}
