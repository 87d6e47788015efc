import { closeSync, constants, fstatSync, openSync, readSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { checkHome } from "./home.js";

/**
 * Opening, reading and appending the state files in the home dir (`incidents.jsonl`,
 * `agents.jsonl`, `claims.json`, `agents.yaml`) without trusting what is at the path:
 * a symbolic link is never followed (`O_NOFOLLOW`: a link planted at `incidents.jsonl`
 * cannot make us append to a file outside the home), the open never blocks (`O_NONBLOCK`:
 * a FIFO planted there cannot hang us), only a regular file is read, reads are bounded, and
 * the directory must pass the home check (ours, not writable by others).
 */

/** A state file that cannot be used as one: a link, a FIFO, a directory, too large. The message says which. */
export class StateFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "StateFileError";
  }
}

const NOFOLLOW = constants.O_NOFOLLOW ?? 0;
const NONBLOCK = constants.O_NONBLOCK ?? 0;

/** Read size per syscall. */
const CHUNK_BYTES = 1024 * 1024;

function kindOf(st: { isDirectory(): boolean; isFIFO(): boolean; isSocket(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean }): string {
  if (st.isDirectory()) return "a directory";
  if (st.isFIFO()) return "a FIFO";
  if (st.isSocket()) return "a socket";
  if (st.isCharacterDevice() || st.isBlockDevice()) return "a device";
  return "not a regular file";
}

/**
 * Open a state file; null when it does not exist (and `create` is false). Refuses a symbolic
 * link and anything but a regular file with a StateFileError naming the path.
 */
export function openStateFile(path: string, mode: "read" | "append", create = false): number | null {
  checkHome(dirname(path));
  const flags = (mode === "read" ? constants.O_RDONLY : constants.O_WRONLY | constants.O_APPEND | (create ? constants.O_CREAT : 0)) | NOFOLLOW | NONBLOCK;
  let fd: number;
  try {
    fd = openSync(path, flags, 0o600);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return null;
    if (code === "ELOOP" || code === "EMLINK") throw new StateFileError(`${path} is a symbolic link; refusing to follow it (remove it, state files are never links)`);
    if (code === "ENXIO") throw new StateFileError(`${path} is a FIFO or socket, not a regular file; refusing to use it`);
    throw err;
  }
  const st = fstatSync(fd);
  if (!st.isFile()) {
    closeSync(fd);
    throw new StateFileError(`${path} is ${kindOf(st)}, not a regular file; refusing to use it`);
  }
  return fd;
}

/** The whole content of a state file (at most `maxBytes`), or null when it does not exist. */
export function readStateFile(path: string, maxBytes: number): Buffer | null {
  const fd = openStateFile(path, "read");
  if (fd === null) return null;
  try {
    const size = fstatSync(fd).size;
    if (size > maxBytes) throw new StateFileError(`${path} is ${size} bytes, over the ${maxBytes}-byte limit for this file; refusing to read it`);
    const buf = Buffer.alloc(size);
    let off = 0;
    while (off < size) {
      const n = readSync(fd, buf, off, size - off, off);
      if (n === 0) break;
      off += n;
    }
    return buf.subarray(0, off);
  } finally {
    closeSync(fd);
  }
}

/** `readStateFile` as UTF-8 text; "" when missing. */
export function readStateText(path: string, maxBytes: number): string {
  return readStateFile(path, maxBytes)?.toString("utf8") ?? "";
}

/**
 * Every line of a state file, streamed (memory holds one chunk and one line, never the
 * file): `onLine(bytes, lineNo)`, 1-based; a line longer than `maxLineBytes` is reported as
 * `onLine(null, lineNo)` and skipped. Returns the bytes read (0 when missing) and whether
 * the file ends with a newline (false: a torn last line).
 */
export function forEachStateLine(path: string, maxLineBytes: number, onLine: (line: Buffer | null, lineNo: number) => void): { bytes: number; endsWithNewline: boolean } {
  const fd = openStateFile(path, "read");
  if (fd === null) return { bytes: 0, endsWithNewline: true };
  try {
    const buf = Buffer.alloc(CHUNK_BYTES);
    let pos = 0;
    let lineNo = 0;
    let parts: Buffer[] = [];
    let partLen = 0;
    let tooLong = false;
    let last = 0x0a;
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, pos);
      if (n === 0) break;
      last = buf[n - 1]!;
      let start = 0;
      for (;;) {
        const nl = buf.indexOf(0x0a, start);
        const end = nl < 0 || nl >= n ? n : nl;
        const piece = buf.subarray(start, end);
        if (!tooLong) {
          if (partLen + piece.length > maxLineBytes) {
            tooLong = true;
            parts = [];
            partLen = 0;
          } else if (piece.length) {
            parts.push(Buffer.from(piece));
            partLen += piece.length;
          }
        }
        if (end === n) break;
        lineNo++;
        onLine(tooLong ? null : parts.length === 1 ? parts[0]! : Buffer.concat(parts, partLen), lineNo);
        parts = [];
        partLen = 0;
        tooLong = false;
        start = end + 1;
      }
      pos += n;
    }
    if (partLen || tooLong) onLine(tooLong ? null : Buffer.concat(parts, partLen), lineNo + 1);
    return { bytes: pos, endsWithNewline: last === 0x0a };
  } finally {
    closeSync(fd);
  }
}

/** Append `data` to a state file (created 0600 if missing), never through a link. */
export function appendStateFile(path: string, data: string | Uint8Array): void {
  const fd = openStateFile(path, "append", true)!;
  try {
    const buf = typeof data === "string" ? Buffer.from(data, "utf8") : data;
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
  } finally {
    closeSync(fd);
  }
}
