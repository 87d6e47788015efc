import { connect, type Socket } from "node:net";
import { MAX_FRAME_BYTES, MAX_UNTERMINATED_BYTES, type BrokerStats } from "./broker.js";
import { ensureBroker, hostedBroker } from "./election.js";
import { BusDecodeError, createMessage, decodeFrame, encodeMessage, type BusMessage, type BusMessageInput } from "./message.js";
import { busSocketPath } from "./paths.js";

export interface BusOptions {
  /** Socket path; default `agents-bus.sock` in the home dir (`$OPENSRE_HOME` or `~/.config/opensre`). */
  path?: string;
  /** Environment used to find the home dir when `path` is not given. */
  env?: NodeJS.ProcessEnv;
}

/** The broker went away while subscribed (its process exited). */
export class BusClosedError extends Error {
  readonly brokerPid: number;
  constructor(brokerPid: number) {
    super(`bus broker (pid ${brokerPid}) went away`);
    this.name = "BusClosedError";
    this.brokerPid = brokerPid;
  }
}

/** A message too large for the bus: refused before sending, since the broker would drop it. */
export class BusFrameTooLargeError extends Error {
  constructor(bytes: number) {
    super(`message is ${bytes} bytes; the bus drops frames over ${MAX_FRAME_BYTES} bytes`);
    this.name = "BusFrameTooLargeError";
  }
}

function socketPathOf(opts: BusOptions): string {
  return opts.path ?? busSocketPath(opts.env ?? process.env);
}

function connectTo(socketPath: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(socketPath);
    const onError = (err: Error) => reject(err);
    s.once("error", onError);
    s.once("connect", () => {
      s.off("error", onError);
      resolve(s);
    });
  });
}

// ---------------------------------------------------------------- publish

/** One cached publisher connection per socket path. */
const publishers = new Map<string, Promise<Socket>>();

function publisherFor(socketPath: string): Promise<Socket> {
  let p = publishers.get(socketPath);
  if (!p) {
    p = (async () => {
      await ensureBroker(socketPath);
      const s = await connectTo(socketPath);
      s.unref();
      // Drain whatever the broker fans out to us; a publisher never reads it.
      s.on("data", () => undefined);
      const forget = () => {
        if (publishers.get(socketPath) === p) publishers.delete(socketPath);
      };
      s.on("error", forget);
      s.on("close", forget);
      return s;
    })();
    publishers.set(socketPath, p);
    p.catch(() => {
      if (publishers.get(socketPath) === p) publishers.delete(socketPath);
    });
  }
  return p;
}

const BROKEN = new Set(["EPIPE", "ECONNRESET", "ECONNREFUSED", "ENOENT", "ENOTCONN", "ERR_STREAM_DESTROYED"]);

function writeFrame(s: Socket, frame: string): Promise<void> {
  return new Promise((resolve, reject) => {
    if (s.destroyed || !s.writable) {
      const err = new Error("bus connection closed") as NodeJS.ErrnoException;
      err.code = "ERR_STREAM_DESTROYED";
      reject(err);
      return;
    }
    s.write(frame, (err) => (err ? reject(err) : resolve()));
  });
}

/**
 * Publish one message. Fills the seed's defaults (id, timestamp, schema_version, "" and {}),
 * elects a broker if none is live, reuses one connection per socket path, and retries once
 * (re-electing) on a broken connection. Resolves with the message as sent.
 */
export async function publish(message: BusMessageInput, opts: BusOptions = {}): Promise<BusMessage> {
  const socketPath = socketPathOf(opts);
  const msg = createMessage(message);
  const frame = encodeMessage(msg);
  const bytes = Buffer.byteLength(frame);
  if (bytes > MAX_FRAME_BYTES) throw new BusFrameTooLargeError(bytes);
  for (let attempt = 0; ; attempt++) {
    try {
      await writeFrame(await publisherFor(socketPath), frame);
      return msg;
    } catch (err) {
      const p = publishers.get(socketPath);
      publishers.delete(socketPath);
      p?.then((s) => s.destroy(), () => undefined);
      if (attempt >= 1 || !BROKEN.has((err as NodeJS.ErrnoException).code ?? "")) throw err;
    }
  }
}

/** Close every cached publisher connection of this process. */
export async function closePublishers(): Promise<void> {
  const all = [...publishers.values()];
  publishers.clear();
  await Promise.all(all.map((p) => p.then((s) => s.end(), () => undefined)));
}

// ---------------------------------------------------------------- subscribe

/** One frame as received: the raw line, and the decoded message or why it could not be decoded. */
export type BusFrame = { raw: string; message: BusMessage; error?: undefined } | { raw: string; message?: undefined; error: BusDecodeError };

/** Frames queued for a slow consumer before we stop reading (the broker then evicts us, at-most-once). */
const SUBSCRIBER_QUEUE_FRAMES = 4096;

export interface SubscribeOptions extends BusOptions {
  /** Ends the subscription (the iterator returns). */
  signal?: AbortSignal;
}

/**
 * A live subscription: connected when `open()` resolves, so anything published after that
 * is delivered. Iterate it for frames; it ends when `signal` aborts and throws
 * BusClosedError if the broker goes away.
 */
export class Subscription implements AsyncIterable<BusFrame> {
  readonly brokerPid: number;
  private readonly socket: Socket;
  private readonly queue: BusFrame[] = [];
  private partial = "";
  private discarding = false;
  private ended: "abort" | Error | null = null;
  private wake: (() => void) | null = null;
  private readonly onAbort = () => this.finish("abort");
  private readonly signal: AbortSignal | undefined;

  private constructor(socket: Socket, brokerPid: number, signal: AbortSignal | undefined) {
    this.socket = socket;
    this.brokerPid = brokerPid;
    this.signal = signal;
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => this.onData(chunk));
    socket.on("error", () => undefined);
    socket.on("close", () => this.finish(new BusClosedError(brokerPid)));
    signal?.addEventListener("abort", this.onAbort, { once: true });
  }

  static async open(opts: SubscribeOptions = {}): Promise<Subscription> {
    const socketPath = socketPathOf(opts);
    if (opts.signal?.aborted) throw opts.signal.reason;
    for (let attempt = 0; ; attempt++) {
      const owner = await ensureBroker(socketPath);
      try {
        const s = await connectTo(socketPath);
        return new Subscription(s, owner.pid, opts.signal);
      } catch (err) {
        if (attempt >= 1 || !BROKEN.has((err as NodeJS.ErrnoException).code ?? "")) throw err;
      }
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
    this.socket.destroy();
    this.wake?.();
  }

  private onData(chunk: string): void {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf("\n", start);
      if (nl < 0) break;
      const line = this.partial + chunk.slice(start, nl);
      start = nl + 1;
      this.partial = "";
      if (this.discarding) {
        this.discarding = false;
        continue;
      }
      if (line.trim() === "") continue;
      this.push(line);
    }
    const rest = chunk.slice(start);
    if (rest && !this.discarding) {
      this.partial += rest;
      if (this.partial.length > MAX_UNTERMINATED_BYTES) {
        this.partial = "";
        this.discarding = true;
        this.queue.push({
          raw: "",
          error: new BusDecodeError(`frame exceeds ${MAX_UNTERMINATED_BYTES} bytes without a newline`),
        });
      }
    }
    if (this.queue.length >= SUBSCRIBER_QUEUE_FRAMES) this.socket.pause();
    this.wake?.();
  }

  private push(raw: string): void {
    try {
      this.queue.push({ raw, message: decodeFrame(raw) });
    } catch (err) {
      this.queue.push({ raw, error: err as BusDecodeError });
    }
  }

  async *[Symbol.asyncIterator](): AsyncIterator<BusFrame> {
    try {
      for (;;) {
        while (this.queue.length > 0) {
          const f = this.queue.shift()!;
          if (this.queue.length < SUBSCRIBER_QUEUE_FRAMES / 2 && this.socket.isPaused()) this.socket.resume();
          yield f;
          if (this.ended === "abort") return;
        }
        if (this.ended === "abort") return;
        if (this.ended) throw this.ended;
        await new Promise<void>((r) => (this.wake = r));
        this.wake = null;
      }
    } finally {
      this.finish("abort");
    }
  }
}

/**
 * Subscribe to the bus: an async iterable of messages published after it attached.
 * Bad frames are skipped; `onWarning` hears why. Ends when `signal` aborts; throws
 * BusClosedError when the broker goes away.
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
    if (f.message) yield f.message;
    else opts.onWarning?.(`skipped a bad frame: ${f.error.message}`);
  }
}

/** Counters of the broker this process hosts, or null when the broker lives in another process. */
export function brokerStats(opts: BusOptions = {}): BrokerStats | null {
  const b = hostedBroker(opts.path ?? (opts.env ? socketPathOf(opts) : undefined));
  return b ? b.stats() : null;
}
