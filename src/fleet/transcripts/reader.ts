import { open, stat } from "node:fs/promises";

/** Bytes read per syscall while catching up on a transcript: bounded memory however large the file. */
export const READ_CHUNK_BYTES = 1024 * 1024;
/** A single line longer than this is not a transcript record: it is skipped with a warning. */
export const MAX_LINE_BYTES = 32 * 1024 * 1024;

interface FileCursor {
  ino: number;
  dev: number;
  offset: number;
  partial: Buffer[];
  partialLen: number;
  skipping: boolean;
}

export interface ReadResult {
  bytes: number;
  /** The file was truncated or replaced: the caller must forget what it derived from it. */
  reset: "truncated" | "replaced" | null;
}

/**
 * Reads only the bytes appended to a file since the last call, line by line. Remembers
 * offset + inode per file; truncation or a new inode restarts from 0; a partial last
 * line is kept (as bytes, so a character split across reads is intact) until its newline.
 */
export class IncrementalReader {
  private readonly cursors = new Map<string, FileCursor>();

  forget(path: string): void {
    this.cursors.delete(path);
  }

  has(path: string): boolean {
    return this.cursors.has(path);
  }

  /**
   * `tailBytes`: on the first read of a file, start this far from its end (the first,
   * partial line is skipped): for callers that only need what happened recently.
   */
  async read(path: string, onLine: (line: string) => void, onWarning: (w: string) => void, tailBytes?: number): Promise<ReadResult> {
    const st = await stat(path);
    let cur = this.cursors.get(path);
    let reset: ReadResult["reset"] = null;
    if (cur && (cur.ino !== st.ino || cur.dev !== st.dev)) reset = "replaced";
    else if (cur && st.size < cur.offset) reset = "truncated";
    if (!cur || reset) {
      const start = !cur && tailBytes !== undefined && st.size > tailBytes ? st.size - tailBytes : 0;
      cur = { ino: st.ino, dev: st.dev, offset: start, partial: [], partialLen: 0, skipping: start > 0 };
      this.cursors.set(path, cur);
    }
    if (st.size === cur.offset) return { bytes: 0, reset };
    const fh = await open(path, "r");
    let total = 0;
    try {
      const buf = Buffer.allocUnsafe(READ_CHUNK_BYTES);
      for (;;) {
        const { bytesRead } = await fh.read(buf, 0, buf.length, cur.offset);
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
            const line = Buffer.concat(cur.partial, cur.partialLen + nl - start).toString("utf8");
            onLine(line);
          } else if (nl > start) {
            onLine(buf.toString("utf8", start, nl));
          }
          cur.partial = [];
          cur.partialLen = 0;
          start = nl + 1;
        }
        if (start < bytesRead && !cur.skipping) {
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
    } finally {
      await fh.close();
    }
    return { bytes: total, reset };
  }
}
