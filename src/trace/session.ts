import { isSameProcess } from "../fleet/procfs.js";
import { AnsiSanitizer } from "./ansi.js";
import { followFile } from "./follow.js";
import { ChunkRing } from "./ring.js";

/** The live view's memory bound (seed): the newest 4 MiB of output, oldest whole chunks dropped first. */
export const RING_BYTES = 4 * 1024 * 1024;
/** Hand-off queue between the reader and the view: the oldest chunk is dropped when a burst overflows it. */
export const QUEUE_BYTES = 1024 * 1024;
/** At most this many repaints a second, however fast the writer. */
export const MAX_REPAINTS_PER_SEC = 10;
/** Each repaint renders at most the newest 64 KiB; older bytes are summarised by a `· skipped` line. */
export const RENDER_BYTES = 64 * 1024;
/** How often the traced process is checked for exit. */
export const EXIT_POLL_MS = 500;

export interface TraceSessionOptions {
  path: string;
  pid: number;
  /** Start time of the traced process (ms since epoch) so a reused pid reads as an exit; null = unknown. */
  startTime: number | null;
  signal: AbortSignal;
  /** Receives rendered output: text (sanitised) or, with `raw`, the bytes unchanged. */
  write(out: string | Buffer): void;
  raw?: boolean;
  tailLines?: number;
  /** Called for one-line notices (`· file truncated; …`). */
  notice(line: string): void;
  /** The file is open and positioned: what is written from now on will be shown. */
  onReady?: () => void;
  /**
   * The descriptor of `pid` that `path` was resolved from: on Linux the file is opened through
   * `/proc/<pid>/fd/<fd>` itself, never by its name (which may be another file for a process in
   * another mount namespace), and must still be the file resolved (`expect`).
   */
  fd?: 1 | 2;
  procRoot?: string;
  expect?: { dev: number; ino: number };
}

export interface TraceStats {
  bytesRead: number;
  bytesRendered: number;
  bytesSkipped: number;
  peakRingBytes: number;
  peakQueueBytes: number;
  repaints: number;
}

export type TraceEnd = "interrupted" | "exited";

/** Cut `buf` to its newest `max` bytes, starting on a UTF-8 character boundary. */
export function newestUtf8(buf: Buffer, max: number): Buffer {
  if (buf.length <= max) return buf;
  let start = buf.length - max;
  while (start < buf.length && (buf[start]! & 0xc0) === 0x80) start++;
  return buf.subarray(start);
}

/**
 * One trace: follow the file behind the target's stdout, render it at most 10 times a
 * second through a bounded queue and a 4 MiB ring buffer, stop on abort or when the
 * process exits (after showing its last output).
 */
export async function runTraceSession(opts: TraceSessionOptions): Promise<{ end: TraceEnd; stats: TraceStats }> {
  const queue = new ChunkRing(QUEUE_BYTES);
  const ring = new ChunkRing(RING_BYTES);
  const decoder = new TextDecoder("utf-8", { fatal: false });
  const sanitizer = new AnsiSanitizer();
  const stats: TraceStats = { bytesRead: 0, bytesRendered: 0, bytesSkipped: 0, peakRingBytes: 0, peakQueueBytes: 0, repaints: 0 };
  let pendingSkip = 0;
  let exited = false;

  const render = () => {
    for (const c of queue.drain()) ring.push(c);
    stats.peakQueueBytes = Math.max(stats.peakQueueBytes, queue.peakBytes);
    stats.peakRingBytes = Math.max(stats.peakRingBytes, ring.peakBytes);
    const dropped = queue.droppedBytes + ring.droppedBytes;
    queue.droppedBytes = 0;
    ring.droppedBytes = 0;
    const chunks = ring.drain();
    if (chunks.length === 0 && pendingSkip === 0 && dropped === 0) return;
    let buf = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
    let skipped = pendingSkip + dropped;
    pendingSkip = 0;
    if (buf.length > RENDER_BYTES) {
      const cut = newestUtf8(buf, RENDER_BYTES);
      skipped += buf.length - cut.length;
      buf = cut;
    }
    stats.repaints++;
    if (skipped > 0) {
      stats.bytesSkipped += skipped;
      if (!opts.raw) decoder.decode(); // reset: the skipped bytes may have ended mid-character
      opts.notice(`· skipped ${skipped} bytes to keep up`);
    }
    if (buf.length === 0) return;
    stats.bytesRendered += buf.length;
    if (opts.raw) opts.write(buf);
    else {
      const text = sanitizer.push(decoder.decode(buf, { stream: true }));
      if (text) opts.write(text);
    }
  };

  // Leading-edge throttle: output after a quiet spell is shown at once; a stream is
  // batched so the view repaints at most MAX_REPAINTS_PER_SEC times a second.
  const interval = Math.ceil(1000 / MAX_REPAINTS_PER_SEC);
  let lastRender = 0;
  let timer: NodeJS.Timeout | null = null;
  const schedule = () => {
    if (timer) return;
    const wait = Math.max(0, lastRender + interval - Date.now());
    timer = setTimeout(() => {
      timer = null;
      lastRender = Date.now();
      render();
    }, wait);
  };
  const exitPoll = setInterval(() => {
    if (!isSameProcess(opts.pid, opts.startTime)) exited = true;
  }, EXIT_POLL_MS);
  try {
    const viaProc = opts.fd !== undefined && (opts.procRoot !== undefined || process.platform === "linux");
    await followFile(opts.path, {
      openPath: viaProc ? `${opts.procRoot ?? "/proc"}/${opts.pid}/fd/${opts.fd}` : undefined,
      expect: opts.expect,
      signal: opts.signal,
      tailLines: opts.tailLines,
      shouldStop: () => exited,
      onReady: opts.onReady,
      onEvent: (e) => {
        if (e.type === "data") {
          stats.bytesRead += e.chunk.length;
          queue.push(e.chunk);
          schedule();
        } else if (e.type === "skipped") {
          pendingSkip += e.bytes;
          schedule();
        } else {
          render();
          opts.notice(`· file truncated to ${e.size} bytes; following from the new end`);
        }
      },
    });
  } finally {
    if (timer) clearTimeout(timer);
    clearInterval(exitPoll);
    render();
    if (!opts.raw) {
      const tail = sanitizer.push(decoder.decode()) + sanitizer.flush();
      if (tail) opts.write(tail);
    }
  }
  return { end: opts.signal.aborted ? "interrupted" : "exited", stats };
}
