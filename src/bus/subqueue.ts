import { TAKEN_POSITION, TAKEN_WAKE, type SubEvent, type SubEventKind } from "./protocol.js";

/*
 * A subscription's queue on the bus thread: frames received and not yet taken by the
 * subscriber's reader (the main thread). Back-pressure first, dropping last:
 * - above CLIENT_HOLD_BYTES the subscription stops reading its socket (or, in the process
 *   hosting the broker, asks the broker to hold publishers), so a reader that keeps up on
 *   average loses nothing;
 * - a reader that has taken nothing for CLIENT_STALL_MS stops holding anyone: the socket is
 *   read again and frames beyond CLIENT_QUEUE_BYTES are dropped, counted, and reported to the
 *   reader in order (`· dropped N frames`). So a stalled reader costs bounded memory and no
 *   broker sees the connection as unresponsive.
 */

/** Most bytes waiting on the bus thread for one subscription: 64 maximum-size frames, ~20,000 typical ones. */
export const CLIENT_QUEUE_BYTES = 4 * 1024 * 1024;
/** Above this the subscription applies back-pressure. */
export const CLIENT_HOLD_BYTES = 1024 * 1024;
/**
 * A reader that takes nothing for this long is stalled: the subscription keeps reading (and
 * drops) rather than leave the broker's writes blocked. Below the Python broker's 200 ms
 * eviction deadline, with room for the scheduling delay of a busy machine.
 */
export const CLIENT_STALL_MS = 150;
/** Bytes handed to the reader's thread and not yet taken. */
export const READER_WINDOW_BYTES = 1024 * 1024;
/** Bytes per batch handed to the reader's thread in one message. */
const BATCH_BYTES = 256 * 1024;
/**
 * While the reader is still working on what it has, a batch is handed over only once it
 * holds this much: frames that trickle in one per read are then passed in bulk.
 */
const SHIP_BYTES = 64 * 1024;
const NL = 0x0a;

class Batch {
  buf = Buffer.allocUnsafeSlow(BATCH_BYTES);
  used = 0;
  /** Events in order with the frames: each one comes before the frame that starts at its `at`. */
  events: SubEvent[] = [];
  firstAt = 0;
}


export class SubQueue {
  private batches: Batch[] = [];
  private spare: Batch | null = null;
  /** Bytes queued here, not yet handed over. */
  bytes = 0;
  /** Bytes handed over and not yet taken, with when their first frame arrived. */
  private inFlight: Array<{ bytes: number; at: number }> = [];
  private inFlightBytes = 0;
  private pendingDrops = 0;
  dropped = 0;
  private lastTaken = performance.now();
  /** The reader's position as last seen here. */
  private seen = 0;
  private scheduled = false;
  /** The feed holds (last answer of wantsHold). */
  private holding = false;
  closed = false;

  constructor(
    private readonly ship: (data: Uint8Array, events: SubEvent[], transfer: ArrayBuffer) => void,
    private readonly taken: Int32Array,
  ) {}

  /**
   * Queue a run of `count` complete frames, each ending in "\n" (copied). Frames are not
   * looked at one by one here unless they approach the queue's limit: the reader's thread
   * splits them (one pass over the bytes it decodes anyway).
   */
  pushRun(run: Buffer, count: number): void {
    if (this.closed) return;
    if (this.bytes + this.inFlightBytes === 0) this.lastTaken = performance.now();
    if (this.bytes + run.length > CLIENT_QUEUE_BYTES || this.pendingDrops > 0) {
      if (count > 1) {
        // Near the limit: frame by frame, so exactly the frames that do not fit are dropped.
        let start = 0;
        for (let nl = run.indexOf(NL); nl >= 0; nl = run.indexOf(NL, start)) {
          this.pushRun(run.subarray(start, nl + 1), 1);
          start = nl + 1;
        }
        return;
      }
      if (this.bytes + run.length > CLIENT_QUEUE_BYTES) {
        this.pendingDrops += count;
        this.dropped += count;
        return;
      }
    }
    // A run larger than a batch (a local publisher's whole batch) is cut at frame ends.
    while (run.length > BATCH_BYTES) {
      const cut = run.lastIndexOf(NL, BATCH_BYTES - 1) + 1;
      if (cut === 0) break; // a frame over a batch cannot be in a run (frames are at most MAX_FRAME_BYTES + 1)
      this.append(run.subarray(0, cut));
      run = run.subarray(cut);
    }
    this.append(run);
  }

  private append(run: Buffer): void {
    const b = this.batchWithRoom(run.length);
    if (this.pendingDrops > 0) this.markDropped(b);
    run.copy(b.buf, b.used);
    b.used += run.length;
    this.bytes += run.length;
    this.schedule();
  }

  /** Queue an event in order with the frames. */
  mark(event: SubEventKind): void {
    if (this.closed) return;
    const b = this.batchWithRoom(0);
    b.events.push({ ...event, at: b.used } as SubEvent);
    this.schedule();
  }

  /**
   * Read the reader's position: what it took since the last look leaves the window, and
   * if it took anything it is not stalled.
   */
  private sync(): boolean {
    const now = Atomics.load(this.taken, TAKEN_POSITION);
    let left = (now - this.seen) | 0;
    if (left <= 0) return false;
    this.seen = now;
    this.lastTaken = performance.now();
    while (left > 0 && this.inFlight.length > 0) {
      const head = this.inFlight[0]!;
      const take = Math.min(head.bytes, left);
      head.bytes -= take;
      left -= take;
      this.inFlightBytes -= take;
      if (head.bytes === 0) this.inFlight.shift();
    }
    return true;
  }

  /** The reader took something and says so: free the window, report drops, hand more over. */
  wake(): void {
    this.sync();
    this.reportDrops();
    this.flush();
  }

  /** Tell the reader about frames dropped so far, in order, as soon as it has room. */
  private reportDrops(): void {
    if (this.pendingDrops === 0 || this.closed) return;
    this.markDropped(this.batchWithRoom(0));
    this.schedule();
  }

  /** One report for drops with no frame between them. */
  private markDropped(b: Batch): void {
    const last = b.events[b.events.length - 1];
    if (last && last.at === b.used && "dropped" in last) last.dropped += this.pendingDrops;
    else b.events.push({ at: b.used, dropped: this.pendingDrops, by: "client" });
    this.pendingDrops = 0;
  }

  /** The reader has frames waiting and has taken nothing for CLIENT_STALL_MS. */
  stalled(): boolean {
    this.sync();
    return this.bytes + this.inFlightBytes > 0 && performance.now() - this.lastTaken > CLIENT_STALL_MS;
  }

  /** Should the feed stop (pause the socket, hold the broker)? */
  wantsHold(): boolean {
    this.holding = this.bytes > CLIENT_HOLD_BYTES && !this.stalled();
    if (this.holding) Atomics.store(this.taken, TAKEN_WAKE, 1);
    return this.holding;
  }

  /** When the oldest frame not yet taken arrived (undefined when none). */
  oldestAt(): number | undefined {
    this.sync();
    return this.inFlight[0]?.at ?? this.batches[0]?.firstAt;
  }

  close(): void {
    this.closed = true;
    this.batches = [];
    this.spare = null;
  }

  private batchWithRoom(len: number): Batch {
    let b = this.batches[this.batches.length - 1];
    if (!b || b.used + len > b.buf.length) {
      b = this.spare ?? new Batch();
      this.spare = null;
      b.firstAt = performance.now();
      this.batches.push(b);
    }
    return b;
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  /** Hand everything over, window or not (the subscription is ending; the reader gets what was queued). */
  flushAll(): void {
    this.reportDrops();
    this.flush(true);
    this.closed = true;
  }

  /**
   * Hand batches over while the reader's window has room. When something is held back, ask
   * the reader for a wake-up, then look at its position once more (it may have moved
   * meanwhile, before it could see the request).
   */
  flush(all = false): void {
    this.sync();
    for (;;) {
      this.ship_(all);
      if (this.closed || (this.batches.length === 0 && this.pendingDrops === 0 && !this.holding)) {
        Atomics.store(this.taken, TAKEN_WAKE, 0);
        return;
      }
      Atomics.store(this.taken, TAKEN_WAKE, 1);
      if (!this.sync()) return;
    }
  }

  private ship_(all: boolean): void {
    while (!this.closed && this.batches.length > 0) {
      if (!all) {
        if (this.inFlightBytes >= READER_WINDOW_BYTES) break;
        if (this.inFlightBytes > 0 && this.batches.length === 1 && this.batches[0]!.used < SHIP_BYTES) break;
      }
      const b = this.batches.shift()!;
      const { used, events, firstAt } = b;
      let ab: ArrayBuffer;
      if (used * 2 >= b.buf.length) {
        ab = b.buf.buffer as ArrayBuffer; // transferred: the batch is gone
      } else {
        // Mostly empty: hand over an exact copy and keep the big buffer for reuse.
        const copy = Buffer.allocUnsafeSlow(used);
        b.buf.copy(copy, 0, 0, used);
        ab = copy.buffer as ArrayBuffer;
        if (!this.spare) {
          b.used = 0;
          b.events = [];
          this.spare = b;
        }
      }
      this.bytes -= used;
      if (used > 0) {
        this.inFlight.push({ bytes: used, at: firstAt });
        this.inFlightBytes += used;
      }
      this.ship(new Uint8Array(ab, 0, used), events, ab);
    }
  }
}
