import { Worker } from "node:worker_threads";
import { fromWire } from "./errors.js";
import { CTRL_EXIT_DONE, CTRL_SLOTS, STATS_SLOTS, toWire, type FromThread, type SubEvent, type ToThread } from "./protocol.js";

/**
 * The main thread's side of the bus thread (`thread.ts`): started on first use, one per
 * process. It never keeps the process alive by itself — only while a publish is unsettled,
 * a call is pending or a subscription is open. When the process exits (normally, through
 * `process.exit`, or on SIGTERM/SIGHUP/SIGINT that nobody else handles) the main thread
 * waits up to EXIT_WAIT_MS for the bus thread to settle publishes and hand a hosted broker
 * over, so the next client re-elects at once and no publisher sees an error.
 */

/** Longest the process's exit waits for the bus: the handover grace plus what settling publishes needs. */
export const EXIT_WAIT_MS = 1000;
/**
 * Bytes published and not yet taken by the broker; `publish()` waits while more are in
 * flight. 1 MiB: 16 maximum-size frames, or ~5,000 typical ones, enough to keep a broker busy.
 */
export const PUBLISH_WINDOW_BYTES = 1024 * 1024;
/** Memory limits of the bus thread: a small young generation keeps the resident size low; the old one is a backstop. */
const THREAD_LIMITS = { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 256 };
const SIGNALS: NodeJS.Signals[] = ["SIGTERM", "SIGHUP", "SIGINT"];

export interface SubHandler {
  frames(data: Uint8Array, events: SubEvent[]): void;
  closed(reason: "gone" | "disconnected" | "stopped", brokerPid: number, error?: Error): void;
}

type Elect = (path: string) => Promise<{ pid: number; hosted: boolean }>;
let electHandler: Elect = () => Promise.reject(new Error("no election handler"));
let warningSink: (line: string) => void = () => undefined;

/** Who elects a broker when the bus thread needs one (`election.ts`). */
export function setElectHandler(fn: Elect): void {
  electHandler = fn;
}

/** Where broker warnings of this process go (oversized frames, evictions). Default: nowhere. */
export function onBrokerWarning(sink: (line: string) => void): void {
  warningSink = sink;
}

interface Settle {
  resolve: () => void;
  reject: (err: Error) => void;
}

class Channel {
  private readonly worker: Worker;
  private readonly ctrl: Int32Array;
  private nextReq = 1;
  private nextSeq = 1;
  private nextSub = 1;
  private readonly calls = new Map<number, Settle>();
  private readonly publishes = new Map<number, Settle & { bytes: number }>();
  private readonly subs = new Map<number, SubHandler>();
  private batch = new Map<string, { seqs: number[]; frames: string[]; sizes: number[]; bytes: number }>();
  private batchScheduled = false;
  private inflightBytes = 0;
  /** Frames waiting for room in the window, oldest first (from `waitHead`). */
  private waiting: Array<{ path: string; frame: string; bytes: number } & Settle> = [];
  private waitHead = 0;
  private windowFull = false;
  private refs = 0;
  /** Brokers this process hosts, with their counters (written by the bus thread). */
  readonly hosted = new Map<string, Float64Array>();
  dead: Error | null = null;
  private exited = false;
  private readonly onExit = () => this.syncExit();
  private readonly onSignal = (sig: NodeJS.Signals) => {
    if (process.listenerCount(sig) > 1) return; // someone else handles it; our exit hook runs when they exit
    this.syncExit();
    this.removeHooks();
    process.kill(process.pid, sig);
  };

  constructor() {
    const ctrl = new SharedArrayBuffer(CTRL_SLOTS * 4);
    this.ctrl = new Int32Array(ctrl);
    this.worker = new Worker(new URL("./thread.js", import.meta.url), {
      workerData: { ctrl },
      resourceLimits: THREAD_LIMITS,
      stdout: false,
      stderr: false,
    });
    this.worker.unref();
    this.worker.on("message", (m: FromThread) => this.onMessage(m));
    this.worker.on("error", (err) => this.die(err));
    this.worker.on("exit", (code) => this.die(new Error(`the bus thread stopped (exit code ${code})`)));
    process.on("exit", this.onExit);
    // First in line, so the others are still counted when it runs (a `once` listener removes itself before it is called).
    for (const sig of SIGNALS) process.prependListener(sig, this.onSignal);
  }

  private removeHooks(): void {
    process.off("exit", this.onExit);
    for (const sig of SIGNALS) process.off(sig, this.onSignal);
  }

  private ref(): void {
    if (this.refs++ === 0) this.worker.ref();
  }

  private unref(): void {
    if (--this.refs === 0) this.worker.unref();
  }

  post(msg: ToThread, transfer?: ArrayBuffer[]): void {
    if (this.dead) throw this.dead;
    this.worker.postMessage(msg, transfer);
  }

  /** A request the bus thread answers with `reply`. */
  call(build: (req: number) => ToThread): Promise<void> {
    if (this.dead) return Promise.reject(this.dead);
    const req = this.nextReq++;
    this.ref();
    return new Promise<void>((resolve, reject) => {
      this.calls.set(req, { resolve, reject });
      this.post(build(req));
    }).finally(() => this.unref());
  }

  async startBroker(path: string): Promise<void> {
    const stats = new SharedArrayBuffer(STATS_SLOTS.length * 8);
    await this.call((req) => ({ op: "startBroker", req, path, stats }));
    this.hosted.set(path, new Float64Array(stats));
  }

  async stopBroker(path: string, graceMs: number): Promise<void> {
    if (!this.hosted.delete(path)) return;
    await this.call((req) => ({ op: "stopBroker", req, path, graceMs }));
  }

  /**
   * Send one encoded frame; resolves once the broker has taken it. Frames beyond the
   * window wait here in order (each one's bytes are reserved when it is admitted).
   */
  publish(path: string, frame: string, bytes = Buffer.byteLength(frame)): Promise<void> {
    if (this.dead) return Promise.reject(this.dead);
    return new Promise<void>((resolve, reject) => {
      if (this.publishes.size + this.waiting.length - this.waitHead === 0) this.ref();
      this.waiting.push({ path, frame, bytes, resolve, reject });
      this.admit();
    });
  }

  /**
   * Move waiting frames into the next batch while the window has room. Once it is full,
   * nothing more is admitted until half of it is free, so frames travel in large batches
   * (a broker forwards each read in one write per subscriber: few, large reads are cheap).
   */
  private admit(): void {
    if (this.windowFull) {
      if (this.inflightBytes > PUBLISH_WINDOW_BYTES / 2) return;
      this.windowFull = false;
    }
    while (this.waitHead < this.waiting.length) {
      const w = this.waiting[this.waitHead]!;
      if (this.inflightBytes > 0 && this.inflightBytes + w.bytes > PUBLISH_WINDOW_BYTES) {
        this.windowFull = true;
        break;
      }
      this.waitHead++;
      const seq = this.nextSeq++;
      this.inflightBytes += w.bytes;
      this.publishes.set(seq, w);
      let b = this.batch.get(w.path);
      if (!b) {
        b = { seqs: [], frames: [], sizes: [], bytes: 0 };
        this.batch.set(w.path, b);
      }
      b.seqs.push(seq);
      b.frames.push(w.frame);
      w.frame = ""; // the batch holds it now
      b.sizes.push(w.bytes);
      b.bytes += w.bytes;
      if (!this.batchScheduled) {
        this.batchScheduled = true;
        queueMicrotask(() => this.sendBatch());
      }
    }
    if (this.waitHead > 1024 && this.waitHead * 2 > this.waiting.length) {
      this.waiting = this.waiting.slice(this.waitHead);
      this.waitHead = 0;
    }
  }

  private sendBatch(): void {
    this.batchScheduled = false;
    const batch = this.batch;
    this.batch = new Map();
    for (const [path, b] of batch) {
      // One encode for the whole batch (a native call per frame costs more than the frame).
      const data = Buffer.allocUnsafeSlow(b.bytes);
      data.write(b.frames.length === 1 ? b.frames[0]! : b.frames.join(""), 0, "utf8");
      // Typed arrays: copied as one block (or moved), where a plain array is cloned number by number.
      const ends = new Float64Array(b.sizes.length);
      let off = 0;
      for (let i = 0; i < b.sizes.length; i++) ends[i] = off += b.sizes[i]!;
      const seqs = Float64Array.from(b.seqs);
      const ab = data.buffer as ArrayBuffer;
      this.post({ op: "publish", path, seqs, data: new Uint8Array(ab, 0, b.bytes), ends }, [ab, seqs.buffer, ends.buffer]);
    }
  }

  private settlePublish(seq: number, err?: Error): void {
    const p = this.publishes.get(seq);
    if (!p) return;
    this.publishes.delete(seq);
    this.inflightBytes -= p.bytes;
    if (err) p.reject(err);
    else p.resolve();
    if (this.publishes.size + this.waiting.length - this.waitHead === 0) this.unref();
  }

  /** Wait until every publish so far is settled; with `close`, then close the publisher links. */
  flush(close: boolean): Promise<void> {
    if (this.batchScheduled) this.sendBatch();
    return this.call((req) => ({ op: "flush", req, close }));
  }

  /**
   * Open a subscription on the bus thread; frames go to `handler` until it is closed. The
   * reader stores the bytes it has taken in `taken` (an Int32, wrapping).
   */
  async subscribe(path: string, pid: number, handler: SubHandler, taken: SharedArrayBuffer): Promise<number> {
    const sub = this.nextSub++;
    this.subs.set(sub, handler);
    this.ref();
    try {
      await this.call((req) => ({ op: "subscribe", req, sub, path, pid, taken }));
    } catch (err) {
      this.subs.delete(sub);
      this.unref();
      throw err;
    }
    return sub;
  }

  /** The reader of `sub` took frames (its position is in its shared counter). */
  taken(sub: number): void {
    if (!this.dead && this.subs.has(sub)) this.post({ op: "taken", sub });
  }

  unsubscribe(sub: number): void {
    if (!this.subs.delete(sub)) return;
    this.unref();
    if (!this.dead) this.post({ op: "unsubscribe", sub });
  }

  private onMessage(m: FromThread): void {
    switch (m.op) {
      case "reply": {
        const c = this.calls.get(m.req);
        this.calls.delete(m.req);
        if (m.error) c?.reject(fromWire(m.error));
        else c?.resolve();
        break;
      }
      case "confirmed":
        for (const s of m.seqs) this.settlePublish(s);
        this.admit();
        break;
      case "failed": {
        for (const s of m.seqs) this.settlePublish(s, fromWire(m.error));
        this.admit();
        break;
      }
      case "elect":
        this.ref();
        electHandler(m.path)
          .then(
            (o) => this.post({ op: "elected", path: m.path, pid: o.pid, hosted: o.hosted }),
            (err: unknown) => this.post({ op: "electFailed", path: m.path, error: toWire(err) }),
          )
          .catch(() => undefined)
          .finally(() => this.unref());
        break;
      case "frames":
        this.subs.get(m.sub)?.frames(m.data, m.events);
        break;
      case "subClosed": {
        const h = this.subs.get(m.sub);
        if (!h) break;
        this.subs.delete(m.sub);
        this.unref();
        h.closed(m.reason, m.brokerPid, m.error ? fromWire(m.error) : undefined);
        break;
      }
      case "warning":
        warningSink(m.text);
        break;
    }
  }

  /** The bus thread died: fail everything pending; the next use starts a new one. */
  private die(err: Error): void {
    if (this.dead) return;
    this.dead = err;
    if (current === this) current = null;
    this.removeHooks();
    this.hosted.clear();
    for (const c of this.calls.values()) c.reject(err);
    this.calls.clear();
    for (const seq of [...this.publishes.keys()]) this.settlePublish(seq, err);
    for (let i = this.waitHead; i < this.waiting.length; i++) this.waiting[i]!.reject(err);
    this.waiting = [];
    this.waitHead = 0;
    for (const [id, h] of this.subs) {
      this.subs.delete(id);
      h.closed("gone", 0, err);
    }
    this.refs = 0;
  }

  /**
   * At exit: hand the bus thread whatever is batched, then wait (bounded) while it settles
   * publishes and hands hosted brokers over.
   */
  syncExit(): void {
    if (this.exited || this.dead) return;
    this.exited = true;
    if (this.batchScheduled) this.sendBatch();
    if (this.hosted.size === 0 && this.publishes.size === 0 && this.waitHead === this.waiting.length) return;
    this.hosted.clear();
    try {
      this.post({ op: "exit", deadline: Date.now() + EXIT_WAIT_MS });
      Atomics.wait(this.ctrl, CTRL_EXIT_DONE, 0, EXIT_WAIT_MS);
    } catch {
      /* exiting anyway */
    }
  }
}

let current: Channel | null = null;

/** The bus thread of this process, started on first use. */
export function channel(): Channel {
  if (!current) current = new Channel();
  return current;
}

/** The bus thread if it was started (no side effect). */
export function channelIfStarted(): Channel | null {
  return current;
}

export type { Channel };
