import { isAscii } from "node:buffer";
import type { BrokerStats } from "./broker.js";
import { channel, channelIfStarted, type SubHandler } from "./channel.js";
import { ensureBroker, hostedBrokerStats } from "./election.js";
import { BusClosedError, BusFrameTooLargeError } from "./errors.js";
import { MAX_FRAME_BYTES } from "./framing.js";
import { BusDecodeError, createMessage, decodeLine, encodeCreated, type BusMessage, type BusMessageInput } from "./message.js";
import { readNotice } from "./notices.js";
import { busSocketPath } from "./paths.js";
import type { SubItem } from "./protocol.js";

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
 * - `bad`: a frame that is not a valid message (`raw` empty when it was over a limit);
 * - `dropped`: frames lost for this subscriber — `by: "broker"` when the broker's queue for it
 *   was full (`raw` is the broker's notice frame), `by: "subscriber"` when this process's
 *   reader did not take them in time;
 * - `notice`: another frame from the broker itself (a handover announcement), with `raw`;
 * - `handover`: the subscription moved from the stopping broker `from` to broker `to`.
 */
export type BusFrame =
  | { kind: "message"; raw: Buffer; message: BusMessage; error?: undefined }
  | { kind: "bad"; raw: Buffer; error: BusDecodeError; message?: undefined }
  | { kind: "dropped"; count: number; by: "broker" | "subscriber"; raw?: Buffer; message?: undefined; error?: undefined }
  | { kind: "notice"; raw: Buffer; message?: undefined; error?: undefined }
  | { kind: "handover"; from: number; to: number; message?: undefined; error?: undefined };

export interface SubscribeOptions extends BusOptions {
  /** Ends the subscription (the iterator returns). */
  signal?: AbortSignal;
}

/** Acknowledge taken bytes to the bus thread at least this often (it judges a reader stalled by its acks). */
const ACK_MS = 20;
const ACK_BYTES = 32 * 1024;
const BROKEN = new Set(["EPIPE", "ECONNRESET", "ECONNREFUSED", "ENOENT", "ENOTCONN"]);

interface Batch {
  data: Buffer;
  items: SubItem[];
  i: number;
  /** Byte offset of the next frame in `data`. */
  start: number;
  /** The part of `data` decoded so far (whole frames, up to DECODE_CHUNK_BYTES at a time), and where it ends in `data`. */
  text: string;
  textEnd: number;
  /** Offset of the next frame in `text`. */
  tpos: number;
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
    const nl = b.data.indexOf(0x0a, end - 1);
    end = nl < 0 ? b.data.length : nl + 1;
  }
  const bytes = b.data.subarray(start, end);
  b.text = isAscii(bytes) ? bytes.toString("latin1") : bytes.toString("utf8");
  b.textEnd = end;
  b.tpos = 0;
}

/**
 * A live subscription: connected when `open()` resolves, so anything published after that
 * is delivered. Its socket is read on the bus thread into a bounded queue; iterate it for
 * frames. It ends when `signal` aborts, and throws BusClosedError if the broker goes away
 * without handing over (a handover is followed transparently).
 */
export class Subscription implements AsyncIterable<BusFrame> {
  /** The broker currently serving this subscription. */
  brokerPid: number;
  private id = 0;
  private readonly batches: Batch[] = [];
  private ended: "abort" | Error | null = null;
  /** Readers waiting in `next()` for frames (one, unless a caller overlaps its calls). */
  private waiters: Array<{ resolve: (r: IteratorResult<BusFrame>) => void; reject: (err: unknown) => void }> = [];
  private unacked = 0;
  private lastAck = performance.now();
  private readonly onAbort = () => this.finish("abort");
  private readonly handler: SubHandler = {
    frames: (data, items) => {
      this.batches.push({ data: Buffer.from(data.buffer, data.byteOffset, data.byteLength), items, i: 0, start: 0, text: "", textEnd: 0, tpos: 0 });
      this.wake();
    },
    closed: (reason, pid, error) => this.finish(error ?? new BusClosedError(pid, reason)),
  };

  private constructor(
    brokerPid: number,
    private readonly signal: AbortSignal | undefined,
  ) {
    this.brokerPid = brokerPid;
  }

  static async open(opts: SubscribeOptions = {}): Promise<Subscription> {
    const socketPath = socketPathOf(opts);
    if (opts.signal?.aborted) throw opts.signal.reason;
    for (let attempt = 0; ; attempt++) {
      const owner = await ensureBroker(socketPath);
      const sub = new Subscription(owner.pid, opts.signal);
      try {
        sub.id = await channel().subscribe(socketPath, owner.pid, sub.handler);
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

  private ack(force: boolean): void {
    if (this.unacked === 0) return;
    const now = performance.now();
    if (!force && this.unacked < ACK_BYTES && now - this.lastAck < ACK_MS) return;
    channelIfStarted()?.ack(this.id, this.unacked);
    this.unacked = 0;
    this.lastAck = now;
  }

  private next(): BusFrame | null {
    while (this.batches.length > 0) {
      const b = this.batches[0]!;
      if (b.i >= b.items.length) {
        this.batches.shift();
        continue;
      }
      const item = b.items[b.i++]!;
      if (typeof item === "number") {
        // `item` is where the frame ends, before its newline.
        const raw = b.data.subarray(b.start, item);
        if (item >= b.textEnd) decodeChunk(b, b.start);
        this.unacked += item + 1 - b.start;
        b.start = item + 1;
        const nl = b.text.indexOf("\n", b.tpos);
        const line = b.text.slice(b.tpos, nl);
        b.tpos = nl + 1;
        this.ack(false);
        return this.decode(raw, line);
      }
      if ("dropped" in item) return { kind: "dropped", count: item.dropped, by: "subscriber" };
      if ("handover" in item) {
        this.brokerPid = item.handover.to;
        return { kind: "handover", from: item.handover.from, to: item.handover.to };
      }
      return { kind: "bad", raw: Buffer.alloc(0), error: new BusDecodeError(item.bad) };
    }
    this.ack(true);
    return null;
  }

  private decode(raw: Buffer, line: string): BusFrame {
    let message: BusMessage;
    try {
      message = decodeLine(line);
    } catch (err) {
      return { kind: "bad", raw, error: err as BusDecodeError };
    }
    const notice = readNotice(message, this.brokerPid);
    if (notice?.event === "dropped") return { kind: "dropped", count: notice.dropped, by: "broker", raw };
    if (notice) return { kind: "notice", raw };
    return { kind: "message", raw, message };
  }

  private wake(): void {
    while (this.waiters.length > 0) {
      if (this.ended === "abort") {
        for (const w of this.waiters.splice(0)) w.resolve({ value: undefined, done: true });
        return;
      }
      const f = this.next();
      if (!f && !this.ended) return;
      const w = this.waiters.shift()!;
      if (f) w.resolve({ value: f, done: false });
      else w.reject(this.ended);
    }
  }

  /**
   * Frames in order. A hand-written iterator rather than an async generator: a frame that is
   * already queued costs one resolved promise, not a generator resume and two promises.
   * Leaving a for-await loop (break, return, throw) closes the subscription.
   */
  [Symbol.asyncIterator](): AsyncIterator<BusFrame> {
    const done: IteratorResult<BusFrame> = { value: undefined, done: true };
    return {
      next: (): Promise<IteratorResult<BusFrame>> => {
        if (this.ended === "abort") return Promise.resolve(done);
        if (this.waiters.length === 0) {
          const f = this.next();
          if (f) return Promise.resolve({ value: f, done: false });
          if (this.ended) {
            const err = this.ended;
            this.finish("abort");
            return Promise.reject(err);
          }
        }
        return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
      },
      return: (): Promise<IteratorResult<BusFrame>> => {
        this.finish("abort");
        return Promise.resolve(done);
      },
      throw: (err?: unknown): Promise<IteratorResult<BusFrame>> => {
        this.finish("abort");
        return Promise.reject(err);
      },
    };
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
