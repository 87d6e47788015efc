/**
 * JSON Lines framing shared by the broker and the clients: a byte stream split into
 * newline-terminated frames, with the reference implementation's exact limits.
 */

/**
 * The longest frame, counted without its newline (seed: "frames over 64 KiB are dropped").
 * The Python reference forwards a 65,536-byte line and drops a 65,537-byte one; so do we.
 */
export const MAX_FRAME_BYTES = 64 * 1024;

/**
 * Bytes without a newline after which a peer is not speaking the protocol: four frames'
 * worth, the Python reference's buffer cap. The broker disconnects such a client; a
 * subscriber skips to the next newline. Only MAX_FRAME_BYTES of it are ever kept.
 */
export const MAX_UNTERMINATED_BYTES = 4 * MAX_FRAME_BYTES;

const NL = 0x0a;

export interface FrameSink {
  /**
   * Complete frames within the limit: `buf` holds `count` frames, each ending in "\n".
   * `buf` may be a view of the chunk given to `push`; copy it to keep it past the call.
   */
  frames(buf: Buffer, count: number): void;
  /** A frame over the limit was dropped; `bytes` is its length without the newline. */
  oversized(bytes: number): void;
  /** MAX_UNTERMINATED_BYTES passed without a newline (reported once per such run). */
  unterminated(bytes: number): void;
}

/**
 * Splits chunks into frames. Runs of consecutive good frames are handed over as one view
 * of the chunk (no copy), so a broker can forward a read in one write. Empty lines are
 * skipped, like the reference does. Memory per stream: at most MAX_FRAME_BYTES of a
 * partial frame.
 */
export class FrameSplitter {
  /**
   * `ownsChunks`: chunks given to `push` are its to keep (a socket's 'data' chunks, each in
   * memory of its own). Then the part of a chunk that starts a frame is kept as a view
   * when it is most of the chunk, rather than copied: a connection that trickles an unfinished
   * frame costs one allocation per read, not two. Otherwise (a reused read buffer) it is copied.
   */
  constructor(private readonly ownsChunks = false) {}

  private partial: Buffer[] = [];
  private partialLen = 0;
  private discarding = false;
  private discarded = 0;
  private reported = false;

  /** Bytes of an unterminated frame held (what counts against memory). */
  get heldBytes(): number {
    return this.partialLen;
  }

  /** True while inside a frame (held or being discarded). */
  get inFrame(): boolean {
    return this.partialLen > 0 || this.discarding;
  }

  push(chunk: Buffer, sink: FrameSink): void {
    let pos = 0;
    if (this.partialLen > 0 || this.discarding) {
      const nl = chunk.indexOf(NL);
      if (nl < 0) {
        this.hold(chunk, sink);
        return;
      }
      if (this.discarding) {
        const size = this.discarded + nl;
        this.discarding = false;
        this.discarded = 0;
        this.reported = false;
        sink.oversized(size);
      } else {
        const size = this.partialLen + nl;
        const parts = this.partial;
        this.partial = [];
        this.partialLen = 0;
        if (size > MAX_FRAME_BYTES) sink.oversized(size);
        else if (size > 0) {
          parts.push(chunk.subarray(0, nl + 1));
          sink.frames(Buffer.concat(parts, size + 1), 1);
        }
      }
      pos = nl + 1;
    }
    let runStart = pos;
    let count = 0;
    for (;;) {
      const nl = chunk.indexOf(NL, pos);
      if (nl < 0) break;
      const len = nl - pos;
      if (len === 0 || len > MAX_FRAME_BYTES) {
        if (count > 0) sink.frames(chunk.subarray(runStart, pos), count);
        if (len > 0) sink.oversized(len);
        count = 0;
        runStart = nl + 1;
      } else {
        count++;
      }
      pos = nl + 1;
    }
    if (count > 0) sink.frames(chunk.subarray(runStart, pos), count);
    if (pos < chunk.length) this.hold(chunk.subarray(pos), sink);
  }

  private hold(rest: Buffer, sink: FrameSink): void {
    if (this.discarding) {
      this.discarded += rest.length;
    } else if (this.partialLen + rest.length > MAX_FRAME_BYTES) {
      // Over the limit already: stop keeping its bytes, count them to the newline.
      this.discarding = true;
      this.discarded = this.partialLen + rest.length;
      this.partial = [];
      this.partialLen = 0;
    } else {
      // Copy: a view would keep the whole chunk alive.
      this.partial.push(this.ownsChunks && rest.byteOffset * 2 <= rest.buffer.byteLength ? rest : Buffer.from(rest));
      this.partialLen += rest.length;
    }
    if (this.discarding && !this.reported && this.discarded > MAX_UNTERMINATED_BYTES) {
      this.reported = true;
      sink.unterminated(this.discarded);
    }
  }
}

/** Calls `fn` for each frame (with its newline) in a run handed over by FrameSplitter. */
export function eachFrame(run: Buffer, fn: (frame: Buffer) => void): void {
  let start = 0;
  for (;;) {
    const nl = run.indexOf(NL, start);
    if (nl < 0) return;
    fn(run.subarray(start, nl + 1));
    start = nl + 1;
  }
}

/**
 * One byte stream read as frames: every chunk goes through a FrameSplitter into `sink`, then
 * `after` runs. The broker's connections and the bus thread's client sockets read this way.
 */
export class FrameReader {
  readonly splitter: FrameSplitter;

  /** `ownsChunks`: see FrameSplitter. */
  constructor(
    private readonly sink: FrameSink,
    private readonly after?: () => void,
    ownsChunks = false,
  ) {
    this.splitter = new FrameSplitter(ownsChunks);
  }

  /** A chunk read from the stream; it may be a view of a buffer reused for the next read (the sink copies what it keeps). */
  readonly push = (chunk: Buffer): void => {
    this.splitter.push(chunk, this.sink);
    this.after?.();
  };
}
