import { connect, type Socket } from "node:net";
import { BusConnectionError } from "./errors.js";
import { FrameReader, eachFrame, type FrameSink } from "./framing.js";
import { noticePrefix, rawNotice } from "./notices.js";

/*
 * A publisher's link to a broker in another process, owned by the bus thread so that it is
 * read continuously whatever the caller's thread is doing: no broker (ours or Python's) ever
 * sees it as unresponsive.
 *
 * Two connections: `out` carries our frames (and drains what the broker fans out to it);
 * `witness` is a plain subscriber that sees our own frames come back through the broker.
 * A frame counts as taken once the witness has seen it — or a later frame of ours, since a
 * broker reads one connection in order — or once the broker has closed `out` cleanly (a
 * clean end means it read everything we wrote; unread data makes the kernel reset the
 * connection instead). A frame written but never confirmed is reported as failed, never
 * silently lost. Frames never handed to the kernel go to the next link.
 */

/** A written frame that neither the witness nor a clean close confirms within this time is reported failed. */
export const CONFIRM_TIMEOUT_MS = 30_000;
/**
 * How far past the oldest unconfirmed frame the witness looks for ours: a broker may drop a
 * frame or two for the witness under overload (it reports how many; the window grows by that).
 */
const LOOKAHEAD = 16;
const TIMEOUT_CHECK_MS = 1000;
const NL = 0x0a;

export interface Pend {
  seq: number;
  data: Buffer;
  /** undefined: handed to the socket; true: reached the kernel; false: the write failed. */
  sent?: boolean;
  at: number;
}

export interface LinkEvents {
  confirmed(seqs: number[]): void;
  failed(seqs: number[], err: Error): void;
  /** Frames that never reached this broker: send them on the next link. */
  requeue(pends: Pend[]): void;
  /** The link takes no new frames (handover notice, or it broke). */
  detached(link: Link): void;
  /** Both connections are closed and every frame is settled. */
  closed(link: Link): void;
}

/**
 * The bytes of `pends` in order, as one buffer: a view when they lie next to each other in
 * one buffer (frames of one batch from the caller's thread), else a copy.
 */
export function joinPends(pends: Pend[]): Buffer {
  const first = pends[0]!.data;
  if (pends.length === 1) return first;
  let end = first.byteOffset + first.length;
  for (let i = 1; i < pends.length; i++) {
    const d = pends[i]!.data;
    if (d.buffer !== first.buffer || d.byteOffset !== end) return Buffer.concat(pends.map((p) => p.data));
    end += d.length;
  }
  return Buffer.from(first.buffer, first.byteOffset, end - first.byteOffset);
}

/**
 * Every client socket of the thread reads into this one buffer: a chunk is split and handed
 * on (copied where kept) before the next read, so no socket holds a read buffer of its own
 * and no read allocates.
 */
const READ_BUFFER = Buffer.allocUnsafeSlow(64 * 1024);

/**
 * Connect to a Unix socket whose frames go to `reader`; resolves once connected, rejects with
 * the connection error.
 */
export function openSocket(path: string, reader: FrameReader): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({
      path,
      onread: {
        buffer: READ_BUFFER,
        callback: (n: number) => {
          reader.push(READ_BUFFER.subarray(0, n));
          return true;
        },
      },
    });
    const onError = (err: Error) => reject(err);
    s.once("error", onError);
    s.once("connect", () => {
      s.off("error", onError);
      resolve(s);
    });
  });
}

export class Link {
  state: "connecting" | "open" | "draining" | "closed" = "connecting";
  private out: Socket | null = null;
  private witness: Socket | null = null;
  private readonly inflight: Pend[] = [];
  private head = 0;
  /** Extra frames the witness may have missed (from the broker's dropped notices). */
  private missed = 0;
  private readonly prefix: Buffer;
  private outEnded = false;
  private outReset = false;
  private outClosed = false;
  private timer: NodeJS.Timeout | null = null;
  private readonly witnessReader: FrameReader;
  private readonly outReader: FrameReader;

  constructor(
    readonly path: string,
    readonly brokerPid: number,
    private readonly ev: LinkEvents,
  ) {
    this.prefix = noticePrefix(brokerPid);
    const ignore = () => undefined;
    this.witnessReader = new FrameReader({ frames: (run) => this.onWitnessRun(run), oversized: ignore, unterminated: ignore });
    // What the broker fans out to a publisher is read and dropped; a handover notice is heeded.
    const outSink: FrameSink = {
      frames: (run) => {
        if (run.indexOf(this.prefix) >= 0) eachFrame(run, (f) => this.checkNotice(f));
      },
      oversized: ignore,
      unterminated: ignore,
    };
    this.outReader = new FrameReader(outSink);
  }

  get pending(): number {
    return this.inflight.length - this.head;
  }

  /** Connect the witness, then the publishing connection (so the broker knows the witness first). */
  async connect(): Promise<void> {
    const witness = await openSocket(this.path, this.witnessReader);
    let out: Socket;
    try {
      out = await openSocket(this.path, this.outReader);
    } catch (err) {
      witness.destroy();
      throw err;
    }
    this.witness = witness;
    this.out = out;
    witness.on("error", () => undefined);
    witness.on("close", () => {
      // Without a witness nothing more can be confirmed: finish through `out`'s close.
      if (!this.outClosed) this.out?.end();
      this.detach();
    });
    out.on("end", () => (this.outEnded = true));
    out.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code === "ECONNRESET") this.outReset = true;
    });
    out.on("close", () => {
      this.outClosed = true;
      this.detach();
      // Let write callbacks of the last writes run before settling.
      setImmediate(() => this.finish());
    });
    this.state = "open";
    this.timer = setInterval(() => this.checkTimeouts(), TIMEOUT_CHECK_MS);
    this.timer.unref();
  }

  /** Write frames, in one write. */
  send(pends: Pend[]): void {
    const out = this.out!;
    for (const p of pends) this.inflight.push(p);
    out.write(joinPends(pends), (err) => {
      for (const p of pends) p.sent = !err;
    });
  }

  /** Stop taking frames; close our side once the broker has read what we wrote. */
  drain(): void {
    if (this.state === "draining" || this.state === "closed") return;
    this.detach();
    this.out?.end();
    if (this.pending === 0) this.witness?.end();
  }

  /** Drop both connections now (process exit). Unsettled frames are reported failed. */
  destroy(): void {
    this.detach();
    this.out?.destroy();
    this.witness?.destroy();
  }

  private detach(): void {
    if (this.state === "draining" || this.state === "closed") return;
    this.state = "draining";
    this.ev.detached(this);
  }

  private checkNotice(frame: Buffer): void {
    const n = rawNotice(frame, this.brokerPid, this.prefix);
    if (n?.event === "handover") this.drain();
    else if (n?.event === "dropped") this.missed += n.dropped;
  }

  /**
   * Frames the broker sent the witness: ours come back in the order we wrote them, between
   * other publishers' frames. Compare with the oldest unconfirmed frame (and a few after it).
   */
  private onWitnessRun(run: Buffer): void {
    if (this.pending === 0) {
      if (run.indexOf(this.prefix) >= 0) eachFrame(run, (f) => this.checkNotice(f));
      return;
    }
    const notices = run.indexOf(this.prefix) >= 0;
    // Usually the run is our own frames in the order we wrote them: compare in place, and
    // settle everything the run confirms at once.
    let through = -1;
    let pos = 0;
    while (pos < run.length) {
      const nl = run.indexOf(NL, pos);
      if (nl < 0) break;
      const len = nl + 1 - pos;
      const from = through + 1 > this.head ? through + 1 : this.head;
      const end = Math.min(this.inflight.length, from + LOOKAHEAD + this.missed);
      let hit = -1;
      for (let i = from; i < end; i++) {
        const d = this.inflight[i]!.data;
        if (d.length === len && run.compare(d, 0, len, pos, nl + 1) === 0) {
          hit = i;
          break;
        }
      }
      if (hit >= 0) {
        this.missed = Math.max(0, this.missed - (hit - from));
        through = hit;
      } else if (notices) this.checkNotice(run.subarray(pos, nl + 1));
      pos = nl + 1;
    }
    if (through >= 0) this.confirmThrough(through);
  }

  /** The frame at `index` came back through the broker: it and every frame written before it were taken. */
  private confirmThrough(index: number): void {
    const seqs: number[] = [];
    while (this.head <= index) seqs.push(this.inflight[this.head++]!.seq);
    this.compact();
    this.ev.confirmed(seqs);
    if (this.state === "draining" && this.pending === 0) this.witness?.end();
  }

  private compact(): void {
    if (this.head > 1024 && this.head * 2 > this.inflight.length) {
      this.inflight.splice(0, this.head);
      this.head = 0;
    }
  }

  private checkTimeouts(): void {
    const now = performance.now();
    const late: number[] = [];
    while (this.head < this.inflight.length) {
      const q = this.inflight[this.head]!;
      if (q.sent !== true || now - q.at < CONFIRM_TIMEOUT_MS) break;
      this.head++;
      late.push(q.seq);
    }
    this.compact();
    if (late.length > 0) {
      this.ev.failed(late, new BusConnectionError(`bus broker (pid ${this.brokerPid}) did not take the message within ${CONFIRM_TIMEOUT_MS / 1000} s`, "ETIMEDOUT"));
    }
  }

  /** `out` is closed: settle every frame still in flight. */
  private finish(): void {
    if (this.state === "closed") return;
    this.state = "closed";
    if (this.timer) clearInterval(this.timer);
    this.witness?.destroy();
    const rest = this.inflight.slice(this.head);
    this.inflight.length = 0;
    this.head = 0;
    const retry = rest.filter((p) => p.sent === false);
    // A clean end means the broker read everything that reached the kernel before closing;
    // a reset means some of it was never read. A write still unsettled is unknown either way.
    const clean = this.outEnded && !this.outReset;
    const taken = clean ? rest.filter((p) => p.sent === true) : [];
    const unknown = rest.filter((p) => (clean ? p.sent === undefined : p.sent !== false));
    if (taken.length > 0) this.ev.confirmed(taken.map((p) => p.seq));
    if (unknown.length > 0) {
      this.ev.failed(
        unknown.map((p) => p.seq),
        new BusConnectionError(`bus broker (pid ${this.brokerPid}) closed the connection before taking the message`, "ECONNRESET"),
      );
    }
    if (retry.length > 0) this.ev.requeue(retry);
    this.ev.closed(this);
  }
}
