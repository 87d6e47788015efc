import { constants } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";

/** Bytes read per syscall while catching up on a transcript: bounded memory however large the file. */
export const READ_CHUNK_BYTES = 1024 * 1024;
/** A single line longer than this is not a transcript record: it is skipped with a warning. */
export const MAX_LINE_BYTES = 32 * 1024 * 1024;

/**
 * Opens a file that a transcript directory names without ever blocking or following it into a
 * device: `O_NONBLOCK` (a FIFO named like a session file opens at once instead of waiting for a
 * writer), then `fstat` on the descriptor, and anything but a regular file (FIFO, socket,
 * `/dev/zero` behind a symlink, a directory) is refused. Null when it is not a regular file.
 */
export async function openRegular(path: string): Promise<{ fh: FileHandle; size: number; ino: number; dev: number; mtimeMs: number } | null> {
  const fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const st = await fh.stat();
    if (!st.isFile()) {
      await fh.close();
      return null;
    }
    return { fh, size: st.size, ino: st.ino, dev: st.dev, mtimeMs: st.mtimeMs };
  } catch (err) {
    await fh.close();
    throw err;
  }
}

/** Reads a whole regular file (rewritten-in-place transcripts), at most `maxBytes`; null when not a regular file or larger. */
export async function readRegularFile(path: string, maxBytes: number): Promise<{ text: string; size: number } | null | "too-large"> {
  const f = await openRegular(path);
  if (!f) return null;
  try {
    if (f.size > maxBytes) return "too-large";
    const buf = Buffer.allocUnsafe(f.size);
    let off = 0;
    while (off < f.size) {
      const { bytesRead } = await f.fh.read(buf, off, f.size - off, off);
      if (bytesRead === 0) break;
      off += bytesRead;
    }
    return { text: buf.toString("utf8", 0, off), size: off };
  } finally {
    await f.fh.close();
  }
}

interface FileCursor {
  ino: number;
  dev: number;
  offset: number;
  partial: Buffer[];
  partialLen: number;
  skipping: boolean;
  /** A final line without its newline was already given to `onLine` (JSON Lines): its bytes are `partial`. */
  tailGiven: boolean;
}

export interface ReadResult {
  bytes: number;
  /** The file was truncated or replaced: the caller must forget what it derived from it. */
  reset: "truncated" | "replaced" | null;
  /** Not a regular file (FIFO, device, socket): nothing was read. */
  notRegular?: boolean;
  /** Bytes left unread because the per-call budget ran out: read on the next call. */
  behind?: number;
}

export interface ReadOptions {
  /** On the first read of a file, start this far from its end (the first, partial line is skipped). */
  tailBytes?: number;
  /** Most bytes read by this call; the rest waits for the next call. */
  maxBytes?: number;
  /**
   * For JSON Lines: a last line without a newline that is already a whole record (the writer
   * stopped, or never ends its last line) is given to `onLine` once, without waiting forever
   * for its newline. If a newline arrives later it is not given again.
   */
  completeTail?: (text: string) => boolean;
}

/** A whole JSON object: the tail test of JSON Lines transcripts. */
export function isWholeJsonObject(text: string): boolean {
  const s = text.trim();
  if (!s.startsWith("{") || !s.endsWith("}")) return false;
  try {
    JSON.parse(s);
    return true;
  } catch {
    return false;
  }
}

/**
 * Reads only the bytes appended to a file since the last call, line by line. Remembers
 * offset + inode per file; truncation or a new inode restarts from 0; a partial last
 * line is kept (as bytes, so a character split across reads is intact) until its newline.
 * Each call reads at most up to the size the file had when opened (a file that grows while
 * it is read cannot keep a refresh busy) and at most `maxBytes`.
 */
export class IncrementalReader {
  private readonly cursors = new Map<string, FileCursor>();

  forget(path: string): void {
    this.cursors.delete(path);
  }

  has(path: string): boolean {
    return this.cursors.has(path);
  }

  /** Offset reached in `path` (bytes consumed), or undefined when never read. */
  offset(path: string): number | undefined {
    return this.cursors.get(path)?.offset;
  }

  async read(path: string, onLine: (line: string) => void, onWarning: (w: string) => void, options?: number | ReadOptions): Promise<ReadResult> {
    const opts: ReadOptions = typeof options === "number" ? { tailBytes: options } : (options ?? {});
    const f = await openRegular(path);
    if (!f) return { bytes: 0, reset: null, notRegular: true };
    let total = 0;
    let reset: ReadResult["reset"] = null;
    try {
      let cur = this.cursors.get(path);
      if (cur && (cur.ino !== f.ino || cur.dev !== f.dev)) reset = "replaced";
      else if (cur && f.size < cur.offset) reset = "truncated";
      if (!cur || reset) {
        const start = !cur && opts.tailBytes !== undefined && f.size > opts.tailBytes ? f.size - opts.tailBytes : 0;
        cur = { ino: f.ino, dev: f.dev, offset: start, partial: [], partialLen: 0, skipping: start > 0, tailGiven: false };
        this.cursors.set(path, cur);
      }
      const end = opts.maxBytes !== undefined ? Math.min(f.size, cur.offset + opts.maxBytes) : f.size;
      if (end <= cur.offset) return { bytes: 0, reset };
      const buf = Buffer.allocUnsafe(Math.min(READ_CHUNK_BYTES, end - cur.offset));
      while (cur.offset < end) {
        const { bytesRead } = await f.fh.read(buf, 0, Math.min(buf.length, end - cur.offset), cur.offset);
        if (bytesRead === 0) break;
        cur.offset += bytesRead;
        total += bytesRead;
        let start = 0;
        for (;;) {
          const nl = buf.indexOf(0x0a, start);
          if (nl < 0 || nl >= bytesRead) break;
          if (cur.skipping) {
            cur.skipping = false;
          } else if (cur.partialLen > 0) {
            cur.partial.push(buf.subarray(start, nl));
            if (!cur.tailGiven) onLine(Buffer.concat(cur.partial, cur.partialLen + nl - start).toString("utf8"));
          } else if (nl > start && !cur.tailGiven) {
            onLine(buf.toString("utf8", start, nl));
          }
          cur.partial = [];
          cur.partialLen = 0;
          cur.tailGiven = false;
          start = nl + 1;
        }
        if (start < bytesRead && !cur.skipping) {
          if (cur.tailGiven) {
            // bytes after a record we already gave without its newline: a new line begins
            cur.partial = [];
            cur.partialLen = 0;
            cur.tailGiven = false;
          }
          cur.partial.push(Buffer.from(buf.subarray(start, bytesRead)));
          cur.partialLen += bytesRead - start;
          if (cur.partialLen > MAX_LINE_BYTES) {
            onWarning(`${path}: skipped a line longer than ${MAX_LINE_BYTES} bytes`);
            cur.partial = [];
            cur.partialLen = 0;
            cur.skipping = true;
          }
        }
      }
      if (opts.completeTail && cur.offset >= f.size && cur.partialLen > 0 && !cur.tailGiven && !cur.skipping) {
        const text = Buffer.concat(cur.partial, cur.partialLen).toString("utf8");
        if (opts.completeTail(text)) {
          onLine(text);
          cur.tailGiven = true;
        }
      }
      return { bytes: total, reset, ...(f.size > cur.offset ? { behind: f.size - cur.offset } : {}) };
    } finally {
      await f.fh.close();
    }
  }
}
