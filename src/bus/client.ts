import { isAscii } from "node:buffer";
import type { BrokerStats } from "./broker.js";
import { channel, channelIfStarted, type SubHandler } from "./channel.js";
import { ensureBroker, hostedBrokerStats } from "./election.js";
import { BusClosedError, BusFrameTooLargeError } from "./errors.js";
import { MAX_FRAME_BYTES } from "./framing.js";
import { BusDecodeError, createMessage, decodeLine, encodeCreated, type BusMessage, type BusMessageInput } from "./message.js";
import { NOTICE_TOPIC, noticePrefix, rawNotice, readNotice } from "./notices.js";
import { busSocketPath } from "./paths.js";
import { TAKEN_POSITION, TAKEN_SLOTS, TAKEN_WAKE, type SubEvent } from "./protocol.js";

export { BusClosedError, BusFrameTooLargeError };

export interface BusOptions {
  /** Socket path; default `agents-bus.sock` in the home dir (`$OPENSRE_HOME` or `~/.config/opensre`). */
  path?: string;
  /** Environment used to find the home dir when `path` is not given. */
  env?: NodeJS.ProcessEnv;
}

function socketPathOf(opts: BusOptions): string {
  return opts.path ?? busSocketPath(opts.env ?? process.env);
}

// ---------------------------------------------------------------- publish

/**
 * Publish one message. Fills the seed's defaults (id, timestamp, schema_version, "" and {}),
 * elects a broker if none is live, and resolves with the message as sent once the broker
 * has taken it (read it from the connection: it is then fanned out to every subscriber,
 * at most once). Rejects with BusConnectionError when the connection broke before that —
 * never resolves for a message that was lost. Frames that never reached a broker are sent
 * again through the next one (re-electing). Many publishes may be in flight at once;
 * beyond PUBLISH_WINDOW_BYTES the next one waits.
 */
export function publish(message: BusMessageInput, opts: BusOptions = {}): Promise<BusMessage> {
  try {
    const msg = createMessage(message);
    const frame = encodeCreated(msg);
    const bytes = Buffer.byteLength(frame);
    if (bytes - 1 > MAX_FRAME_BYTES) throw new BusFrameTooLargeError(bytes - 1);
    return channel()
      .publish(socketPathOf(opts), frame, bytes)
      .then(() => msg);
  } catch (err) {
    return Promise.reject(err);
  }
}

/** Wait for every publish of this process to settle, then close its publisher connections. */
export async function closePublishers(): Promise<void> {
  const ch = channelIfStarted();
  if (ch && !ch.dead) await ch.flush(true);
}

// ---------------------------------------------------------------- subscribe

/**
 * One item of a subscription, in order:
 * - `message`: a frame and the message it decodes to; `raw` is its bytes as received, without the newline;
 * - `frame`: with `decode: false`, a frame's bytes as received (without the newline), not decoded or validated;
 * - `bad`: a frame that is not a valid message (`raw` empty when it was over a limit);
 * - `dropped`: frames lost for this subscriber — `by: "broker"` when the broker's queue for it
 *   was full (`raw` is the broker's notice frame), `by: "subscriber"` when this process's
 *   reader did not take them in time;
 * - `notice`: another frame from the broker itself (a handover announcement), with `raw`;
 * - `handover`: the subscription moved from the stopping broker `from` to broker `to`.
 */
export type BusFrame =
  | { kind: "message"; raw: Buffer; message: BusMessage; error?: undefined }
  | { kind: "frame"; raw: Buffer; message?: undefined; error?: undefined }
  | { kind: "bad"; raw: Buffer; error: BusDecodeError; message?: undefined }
  | { kind: "dropped"; count: number; by: "broker" | "subscriber"; raw?: Buffer; message?: undefined; error?: undefined }
  | { kind: "notice"; raw: Buffer; message?: undefined; error?: undefined }
  | { kind: "handover"; from: number; to: number; message?: undefined; error?: undefined };

export interface SubscribeOptions extends BusOptions {
  /** Ends the subscription (the iterator returns). */
  signal?: AbortSignal;
  /**
   * false: frames are handed over as bytes (`kind: "frame"`), without JSON.parse or validation —
   * for relays and recorders that pass frames on as received. The broker's own notices are
   * still recognised (dropped counts, handovers). Default true.
   */
  decode?: boolean;
}

/**
 * The reader's thread wakes the bus thread after taking this many bytes (or on catching up),
 * so it frees room in the reader's window; between wake-ups the bus thread reads the reader's
 * position from shared memory.
 */
const WAKE_BYTES = 64 * 1024;
/**
 * Most frames `batches()` hands over at once: one promise for many frames, while a reader
 * that spends ~2 ms a frame still takes something well within CLIENT_STALL_MS.
 */
export const SUBSCRIPTION_BATCH_FRAMES = 32;
const BROKEN = new Set(["EPIPE", "ECONNRESET", "ECONNREFUSED", "ENOENT", "ENOTCONN"]);
const NL = 0x0a;

interface Batch {
  data: Buffer;
  events: SubEvent[];
  /** Next event. */
  ev: number;
  /** Byte offset of the next frame in `data`. */
  pos: number;
  /** Decoding: the part of `data` decoded so far (whole frames, up to DECODE_CHUNK_BYTES at a time), from byte `textStart` to `textEnd`. */
  text: string;
  textStart: number;
  textEnd: number;
  /** Whether `text` was all ASCII (then a character offset in it is a byte offset). */
  ascii: boolean;
  /** Offset of the next frame in `text`. */
  tpos: number;
  /** Raw frames: where the next broker notice may start (-1: none), for the broker `noticeOf`. */
  noticeAt: number;
  noticeOf: number;
}

/**
 * Frames are decoded to text this many bytes at a time: one call per frame costs more than
 * the frame, and one string for a whole 256 KiB batch is ten times slower per byte.
 */
const DECODE_CHUNK_BYTES = 16 * 1024;

/**
 * Decode the frames of `b` from byte `start` on, whole frames, about DECODE_CHUNK_BYTES of
 * them. A newline byte is a newline character either way (an invalid UTF-8 sequence before
 * it becomes U+FFFD, as when the frame is decoded alone), so frames split at the same places.
 */
function decodeChunk(b: Batch, start: number): void {
  let end = start + DECODE_CHUNK_BYTES;
  if (end >= b.data.length) end = b.data.length;
  else {
    const nl = b.data.indexOf(NL, end - 1);
    end = nl < 0 ? b.data.length : nl + 1;
  }
  const bytes = b.data.subarray(start, end);
  b.ascii = isAscii(bytes);
  b.text = b.ascii ? bytes.toString("latin1") : bytes.toString("utf8");
  b.textStart = start;
  b.textEnd = end;
  b.tpos = 0;
}

/** A decoded frame; its bytes are cut out of the batch only when asked for. */
class MessageFrame {
  readonly kind = "message" as const;
  constructor(
    private readonly data: Buffer,
    private readonly start: number,
    private readonly end: number,
    readonly message: BusMessage,
  ) {}
  get raw(): Buffer {
    return this.data.subarray(this.start, this.end);
  }
}

/** A frame as received (`decode: false`); its bytes are cut out of the batch only when asked for. */
class RawFrame {
  readonly kind = "frame" as const;
  constructor(
    private readonly data: Buffer,
    private readonly start: number,
    private readonly end: number,
  ) {}
  get raw(): Buffer {
    return this.data.subarray(this.start, this.end);
  }
}

interface Waiter {
  resolve: (r: IteratorResult<never>) => void;
  reject: (err: unknown) => void;
  /** 0: wants one frame; otherwise at most this many, as an array. */
  many: number;
}

/**
 * A live subscription: connected when `open()` resolves, so anything published after that
 * is delivered. Its socket is read on the bus thread into a bounded queue; iterate it for
 * frames, or `batches()` for arrays of them. It ends when `signal` aborts, and throws
 * BusClosedError if the broker goes away without handing over (a handover is followed
 * transparently).
 *
 * Frames are split and decoded on the reader's thread as it asks for them, a decoded chunk
 * at a time; taking a frame costs a store to shared memory (the bus thread reads the
 * reader's position from there) and, every WAKE_BYTES, one message.
 */
export class Subscription implements AsyncIterable<BusFrame> {
  /** The broker currently serving this subscription. */
  brokerPid: number;
  private id = 0;
  private readonly batches_: Batch[] = [];
  private head = 0;
  private ended: "abort" | Error | null = null;
  /** Readers waiting for frames (one, unless a caller overlaps its calls). */
  private waiters: Waiter[] = [];
  /** Bytes taken so far and the bus thread's wake-up request, shared with it (see TAKEN_SLOTS). */
  private readonly taken = new Int32Array(new SharedArrayBuffer(TAKEN_SLOTS * 4));
  private position = 0;
  private unwoken = 0;
  private prefix: Buffer;
  private readonly onAbort = () => this.finish("abort");
  private readonly handler: SubHandler = {
    frames: (data, events) => {
      const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
      this.batches_.push({ data: buf, events, ev: 0, pos: 0, text: "", textStart: 0, textEnd: 0, ascii: true, tpos: 0, noticeAt: -1, noticeOf: 0 });
      this.wake();
    },
    closed: (reason, pid, error) => this.finish(error ?? new BusClosedError(pid, reason)),
  };

  private constructor(
    brokerPid: number,
    private readonly signal: AbortSignal | undefined,
    private readonly decode: boolean,
  ) {
    this.brokerPid = brokerPid;
    this.prefix = noticePrefix(brokerPid);
  }

  static async open(opts: SubscribeOptions = {}): Promise<Subscription> {
    const socketPath = socketPathOf(opts);
    if (opts.signal?.aborted) throw opts.signal.reason;
    for (let attempt = 0; ; attempt++) {
      const owner = await ensureBroker(socketPath);
      const sub = new Subscription(owner.pid, opts.signal, opts.decode !== false);
      try {
        sub.id = await channel().subscribe(socketPath, owner.pid, sub.handler, sub.taken.buffer as SharedArrayBuffer);
      } catch (err) {
        if (attempt >= 1 || !BROKEN.has((err as NodeJS.ErrnoException).code ?? "")) throw err;
        continue;
      }
      opts.signal?.addEventListener("abort", sub.onAbort, { once: true });
      if (opts.signal?.aborted) sub.finish("abort");
      return sub;
    }
  }

  /** Stop receiving and release the connection. */
  close(): void {
    this.finish("abort");
  }

  private finish(reason: "abort" | Error): void {
    if (this.ended) return;
    this.ended = reason;
    this.signal?.removeEventListener("abort", this.onAbort);
    channelIfStarted()?.unsubscribe(this.id);
    this.wake();
  }

  /** The reader took `bytes`: publish its position; now and then see whether the bus thread waits for it. */
  private took(bytes: number): void {
    this.position = (this.position + bytes) | 0;
    this.taken[TAKEN_POSITION] = this.position;
    this.unwoken += bytes;
    if (this.unwoken >= WAKE_BYTES) this.wakeThread();
  }

  /** Wake the bus thread if it asked to be (it holds something back until we take more). */
  private wakeThread(): void {
    this.unwoken = 0;
    Atomics.store(this.taken, TAKEN_POSITION, this.position);
    if (Atomics.exchange(this.taken, TAKEN_WAKE, 0) === 1) channelIfStarted()?.taken(this.id);
  }

  /** The next frame, or null when none is queued (then the bus thread hears we caught up). */
  private next(): BusFrame | null {
    for (;;) {
      const b = this.batches_[this.head];
      if (!b) {
        if (this.unwoken > 0) this.wakeThread();
        return null;
      }
      if (b.ev < b.events.length && b.events[b.ev]!.at <= b.pos) return this.event(b.events[b.ev++]!);
      if (b.pos >= b.data.length) {
        this.batches_[this.head++] = undefined as unknown as Batch;
        if (this.head === this.batches_.length || this.head > 64) {
          this.batches_.splice(0, this.head);
          this.head = 0;
        }
        continue;
      }
      return this.decode ? this.decoded(b) : this.rawFrame(b);
    }
  }

  private decoded(b: Batch): BusFrame {
    const start = b.pos;
    if (start >= b.textEnd) decodeChunk(b, start);
    const tnl = b.text.indexOf("\n", b.tpos);
    const line = b.text.slice(b.tpos, tnl);
    b.tpos = tnl + 1;
    const nl = b.ascii ? b.textStart + tnl : b.data.indexOf(NL, start);
    b.pos = nl + 1;
    this.took(nl + 1 - start);
    let message: BusMessage;
    try {
      message = decodeLine(line);
    } catch (err) {
      return { kind: "bad", raw: b.data.subarray(start, nl), error: err as BusDecodeError };
    }
    if (message.topic === NOTICE_TOPIC) {
      const notice = readNotice(message, this.brokerPid);
      if (notice?.event === "dropped") return { kind: "dropped", count: notice.dropped, by: "broker", raw: b.data.subarray(start, nl) };
      if (notice) return { kind: "notice", raw: b.data.subarray(start, nl) };
    }
    return new MessageFrame(b.data, start, nl, message);
  }

  private rawFrame(b: Batch): BusFrame {
    const start = b.pos;
    const nl = b.data.indexOf(NL, start);
    b.pos = nl + 1;
    this.took(nl + 1 - start);
    // A notice from the broker is rare: look for its start once per batch, then past each one.
    if (b.noticeOf !== this.brokerPid || (b.noticeAt >= 0 && b.noticeAt < start)) {
      b.noticeOf = this.brokerPid;
      b.noticeAt = b.data.indexOf(this.prefix, start);
    }
    if (b.noticeAt === start) {
      b.noticeAt = b.data.indexOf(this.prefix, nl + 1);
      const raw = b.data.subarray(start, nl);
      const notice = rawNotice(raw, this.brokerPid, this.prefix);
      if (notice?.event === "dropped") return { kind: "dropped", count: notice.dropped, by: "broker", raw };
      if (notice) return { kind: "notice", raw };
    }
    return new RawFrame(b.data, start, nl);
  }

  private event(e: SubEvent): BusFrame {
    if ("dropped" in e) return { kind: "dropped", count: e.dropped, by: "subscriber" };
    if ("handover" in e) {
      this.brokerPid = e.handover.to;
      this.prefix = noticePrefix(e.handover.to);
      return { kind: "handover", from: e.handover.from, to: e.handover.to };
    }
    return { kind: "bad", raw: Buffer.alloc(0), error: new BusDecodeError(e.bad) };
  }

  /** Up to `max` frames queued now (none when nothing is queued). */
  private take(max: number): BusFrame[] {
    const out: BusFrame[] = [];
    while (out.length < max) {
      const f = this.next();
      if (!f) break;
      out.push(f);
    }
    return out;
  }

  private wake(): void {
    while (this.waiters.length > 0) {
      if (this.ended === "abort") {
        for (const w of this.waiters.splice(0)) w.resolve({ value: undefined as never, done: true });
        return;
      }
      const w = this.waiters[0]!;
      const f = w.many > 0 ? this.take(w.many) : this.next();
      const got = w.many > 0 ? (f as BusFrame[]).length > 0 : f !== null;
      if (!got && !this.ended) return;
      this.waiters.shift();
      if (got) w.resolve({ value: f as never, done: false });
      else w.reject(this.ended);
    }
  }

  /** One iterator over frames (`many` = 0) or arrays of up to `many` frames. */
  private iterator<T>(many: number): AsyncIterableIterator<T> {
    const done: IteratorResult<T> = { value: undefined, done: true };
    const it: AsyncIterableIterator<T> = {
      next: (): Promise<IteratorResult<T>> => {
        if (this.ended === "abort") return Promise.resolve(done);
        if (this.waiters.length === 0) {
          const f = many > 0 ? this.take(many) : this.next();
          if (many > 0 ? (f as BusFrame[]).length > 0 : f !== null) return Promise.resolve({ value: f as T, done: false });
          if (this.ended) {
            const err = this.ended;
            this.finish("abort");
            return Promise.reject(err);
          }
        }
        return new Promise((resolve, reject) => this.waiters.push({ resolve: resolve as Waiter["resolve"], reject, many }));
      },
      return: (): Promise<IteratorResult<T>> => {
        this.finish("abort");
        return Promise.resolve(done);
      },
      throw: (err?: unknown): Promise<IteratorResult<T>> => {
        this.finish("abort");
        return Promise.reject(err);
      },
      [Symbol.asyncIterator]: () => it,
    };
    return it;
  }

  /**
   * Frames in order. A hand-written iterator rather than an async generator: a frame that is
   * already queued costs one resolved promise, not a generator resume and two promises.
   * Leaving a for-await loop (break, return, throw) closes the subscription.
   */
  [Symbol.asyncIterator](): AsyncIterator<BusFrame> {
    return this.iterator<BusFrame>(0);
  }

  /**
   * Frames in order, as arrays of every frame queued (at most `max`, default
   * SUBSCRIPTION_BATCH_FRAMES): one promise and one await for many frames. The frames of an
   * array count as taken when it is handed over; a reader that spends more than
   * CLIENT_STALL_MS on one array is treated as stalled, as one that spends it on one frame.
   * Leaving the loop closes the subscription.
   */
  batches(max = SUBSCRIPTION_BATCH_FRAMES): AsyncIterableIterator<BusFrame[]> {
    return this.iterator<BusFrame[]>(Math.max(1, Math.floor(max)));
  }
}

/**
 * Subscribe to the bus: an async iterable of messages published after it attached.
 * Bad frames are skipped and lost frames counted; `onWarning` hears about both. Ends when
 * `signal` aborts; throws BusClosedError when the broker goes away.
 */
export async function* subscribe(
  opts: SubscribeOptions & { onWarning?: (reason: string) => void } = {},
): AsyncGenerator<BusMessage, void, undefined> {
  let sub: Subscription;
  try {
    sub = await Subscription.open(opts);
  } catch (err) {
    if (opts.signal?.aborted) return;
    throw err;
  }
  for await (const f of sub) {
    if (f.kind === "message") yield f.message;
    else if (f.kind === "bad") opts.onWarning?.(`skipped a bad frame: ${f.error.message}`);
    else if (f.kind === "dropped") opts.onWarning?.(`dropped ${f.count} frame${f.count === 1 ? "" : "s"}`);
  }
}

/** Counters of the broker this process hosts, or null when the broker lives in another process. */
export function brokerStats(opts: BusOptions = {}): BrokerStats | null {
  return hostedBrokerStats(opts.path ?? (opts.env ? socketPathOf(opts) : undefined));
}
