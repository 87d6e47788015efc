import { EventEmitter } from "node:events";
import { chmodSync, mkdtempSync, readFileSync, renameSync, rmdirSync, unlinkSync } from "node:fs";
import { dirname, join } from "node:path";
import { createServer, type Server, type Socket } from "node:net";
import { writeFileAtomicSync } from "../util/atomic.js";
import { FrameReader, MAX_FRAME_BYTES, MAX_UNTERMINATED_BYTES, type FrameSink } from "./framing.js";
import { noticeFrame } from "./notices.js";
import { busPidPath } from "./paths.js";

export { MAX_FRAME_BYTES, MAX_UNTERMINATED_BYTES };

/*
 * Delivery policy (docs/bus.md explains it with the measurements behind the numbers).
 *
 * Every subscriber has a queue measured in bytes. A reader that keeps up on average never
 * loses a frame: while its queue is above HOLD_BYTES the broker stops reading publishers
 * (back-pressure travels to them, like the Python broker's blocking send), until it has
 * caught up. A reader whose oldest queued frame has waited LAG_MS stops holding the others:
 * from then on its frames are dropped while its queue is full (QUEUE_BYTES), counted, and the
 * count is sent to it in a notice as soon as it has room. Only a reader that has taken
 * nothing at all for EVICT_AFTER_MS is disconnected.
 */

/**
 * Longest back-pressure one reader can put on everyone: a subscriber whose oldest queued frame
 * is older than this no longer holds publishers. One second covers a process that the
 * scheduler of a busy two-core machine leaves waiting (measured: 8 subscribers, two CPU hogs,
 * worst stall well under 1 s), while a reader slower than HOLD_BYTES per LAG_MS (256 KiB/s,
 * ~1,300 typical frames/s) cannot slow the whole bus to its pace for long.
 */
export const LAG_MS = 1000;
/** Queue above which a subscriber that keeps up holds publishers: the kernel buffer (~200 KiB) once more. */
export const HOLD_BYTES = 256 * 1024;
/**
 * Most bytes queued for one subscriber; beyond it frames are dropped for it. 4 MiB is 64
 * maximum-size frames or ~20,000 typical ones; frames are shared between subscribers, so
 * this bounds broker memory per frame in flight, not per subscriber.
 */
export const QUEUE_BYTES = 4 * 1024 * 1024;
/**
 * A subscriber with frames waiting that has taken nothing for this long is disconnected:
 * long enough for a terminal suspended with Ctrl+Z or a debugger pause; a reader that takes
 * anything at all, however slowly, is never evicted.
 */
export const EVICT_AFTER_MS = 30_000;
/**
 * Connections served at once; more are refused. About three per agent process (publisher,
 * its witness, a subscriber): room for 300 processes, far beyond a developer machine, while
 * 4,000 hostile connections cannot grow the broker.
 */
export const MAX_CONNECTIONS = 1024;
/**
 * Bytes of unfinished frames held for all connections together (each holds at most
 * MAX_FRAME_BYTES): 128 maximum-size frames in flight at once. A connection whose
 * unfinished frame would pass it is disconnected.
 */
export const MAX_PARTIAL_BYTES = 8 * 1024 * 1024;
/** How long a stopping broker serves clients that have not moved to the next one yet. */
export const HANDOVER_GRACE_MS = 300;

const SWEEP_MS = 1000;
const HOLD_CHECK_MS = 20;
const WARNING_INTERVAL_MS = 1000;
/** After a graceful stop, how long ended connections get to flush before being destroyed. */
const FLUSH_MS = 200;

/** The delivery policy's numbers; tests shorten them, everything else uses the defaults above. */
export interface BrokerPolicy {
  lagMs: number;
  holdBytes: number;
  queueBytes: number;
  evictAfterMs: number;
}

const DEFAULT_POLICY: BrokerPolicy = { lagMs: LAG_MS, holdBytes: HOLD_BYTES, queueBytes: QUEUE_BYTES, evictAfterMs: EVICT_AFTER_MS };

export interface BrokerStats {
  /** Connected clients and in-process subscribers (every one receives what the others send). */
  subscribers: number;
  /** Frames received from publishers. */
  framesIn: number;
  /** Frame deliveries queued to subscribers. */
  framesOut: number;
  /** Frame deliveries dropped (a subscriber's queue was full) and oversized frames dropped. */
  dropped: number;
  /** Subscribers disconnected after taking nothing for EVICT_AFTER_MS. */
  evicted: number;
  /** Connections refused or cut: over MAX_CONNECTIONS, over MAX_PARTIAL_BYTES, or unterminated. */
  refused: number;
}

/** An in-process subscriber of a broker hosted by this thread. */
export interface LocalSink {
  /** `buf` holds `count` frames; the sink bounds its own queue and counts its own drops. */
  deliver(buf: Buffer, count: number): void;
  /** True while the sink wants publishers held (its queue is full and its reader keeps taking). */
  holding(): boolean;
  /** The broker is stopping. */
  stopped(): void;
}

/** First-in first-out record of queued writes: their sizes and when they were queued. */
class WriteLog {
  private lens: number[] = [];
  private ats: number[] = [];
  private head = 0;

  push(len: number, at: number): void {
    this.lens.push(len);
    this.ats.push(at);
  }

  shift(): number {
    const len = this.lens[this.head] ?? 0;
    this.head++;
    if (this.head >= 1024 && this.head * 2 >= this.lens.length) {
      this.lens = this.lens.slice(this.head);
      this.ats = this.ats.slice(this.head);
      this.head = 0;
    }
    return len;
  }

  oldestAt(): number | undefined {
    return this.ats[this.head];
  }
}

class Conn {
  readonly reader: FrameReader;
  readonly log = new WriteLog();
  /** Bytes of an unfinished frame held for it, as last counted in the broker's total. */
  held = 0;
  /** Bytes handed to the socket and not yet taken by the kernel. */
  queued = 0;
  /** When it last took something (or started waiting). */
  lastTaken = 0;
  /** Frames dropped for it since the last notice. */
  unreported = 0;
  holding = false;
  closed = false;
  /** Cut at the end of the current read (unterminated frame, partial budget). */
  cut = false;
  readonly onWritten: (err?: Error | null) => void;

  constructor(
    readonly socket: Socket,
    broker: Broker,
  ) {
    this.onWritten = (err) => broker.written(this, err);
    this.reader = broker.readerFor(this);
  }
}

/**
 * The fan-out broker: every complete frame one connection sends is forwarded, byte for
 * byte, to every other connection and in-process subscriber. It never parses frames
 * (unknown fields of other implementations survive); validation is the subscriber's job.
 *
 * Events: `warning` (string, at most one per kind per second), `close`.
 */
export class Broker extends EventEmitter {
  readonly socketPath: string;
  private server: Server | null = null;
  private readonly conns = new Set<Conn>();
  private readonly sinks = new Set<LocalSink>();
  private readonly counters = { framesIn: 0, framesOut: 0, dropped: 0, evicted: 0, refused: 0 };
  private readonly holders = new Set<Conn>();
  private paused = false;
  private partialTotal = 0;
  private heldLocal: Array<{ buf: Buffer; count: number; done: () => void }> = [];
  private holdTimer: NodeJS.Timeout | null = null;
  private sweepTimer: NodeJS.Timeout | null = null;
  private lastSweep = 0;
  private exitHook: (() => void) | null = null;
  private stopping: Promise<void> | null = null;
  private readonly warned = new Map<string, { at: number; suppressed: number }>();
  private readonly unref: boolean;
  private statsOut: Float64Array | null = null;
  private readonly onOversized = (bytes: number): void => {
    this.counters.dropped++;
    this.warn("oversized", `bus: dropped a ${bytes}-byte frame (limit ${MAX_FRAME_BYTES})`);
  };

  private readonly policy: BrokerPolicy;

  /** `unref`: the broker does not keep its thread alive by itself (default true). */
  constructor(socketPath: string, opts: { unref?: boolean; policy?: Partial<BrokerPolicy> } = {}) {
    super();
    this.socketPath = socketPath;
    this.unref = opts.unref ?? true;
    this.policy = { ...DEFAULT_POLICY, ...opts.policy };
  }

  stats(): BrokerStats {
    return { subscribers: this.conns.size + this.sinks.size, ...this.counters };
  }

  /** Keep `out` (subscribers, framesIn, framesOut, dropped, evicted, refused) up to date, for readers on other threads. */
  mirrorStats(out: Float64Array): void {
    this.statsOut = out;
    this.syncStats();
  }

  private syncStats(): void {
    const o = this.statsOut;
    if (!o) return;
    const c = this.counters;
    o[0] = this.conns.size + this.sinks.size;
    o[1] = c.framesIn;
    o[2] = c.framesOut;
    o[3] = c.dropped;
    o[4] = c.evicted;
    o[5] = c.refused;
  }

  get listening(): boolean {
    return this.server !== null && this.stopping === null;
  }

  /**
   * Bind the socket (never reachable by anyone else, even briefly), then write the PID sidecar
   * atomically. If the sidecar cannot be written the broker stops, removes its socket and
   * rejects with the OS error: running without a sidecar would let peers see it as dead
   * and split the bus. The caller holds the election lock.
   */
  async start(): Promise<void> {
    const server = createServer({ allowHalfOpen: false, pauseOnConnect: false }, (s) => this.accept(s));
    server.maxConnections = MAX_CONNECTIONS;
    // Bind inside a fresh 0700 directory, restrict the socket to 0600, then rename it into
    // place: at no moment can another user reach it, whatever the umask (which a worker
    // thread cannot change) and whatever the home directory's mode.
    const staging = mkdtempSync(join(dirname(this.socketPath), ".agents-bus-"));
    const bound = join(staging, "s");
    try {
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(bound, () => {
          server.off("error", reject);
          resolve();
        });
      });
      try {
        chmodSync(bound, 0o600);
        renameSync(bound, this.socketPath);
        writeFileAtomicSync(busPidPath(this.socketPath), String(process.pid), 0o600);
      } catch (err) {
        await new Promise<void>((r) => server.close(() => r()));
        for (const p of [bound, this.socketPath]) {
          try {
            unlinkSync(p);
          } catch {
            /* already gone */
          }
        }
        throw err;
      }
    } finally {
      try {
        rmdirSync(staging);
      } catch {
        /* not empty only if the socket could not be moved: removed above */
      }
    }
    server.on("error", (err) => this.warn("server", `bus: broker error: ${err.message}`));
    server.on("drop", () => {
      this.counters.refused++;
      this.syncStats();
      this.warn("refused", `bus: refused a connection: ${MAX_CONNECTIONS} clients already connected`);
    });
    if (this.unref) server.unref();
    this.server = server;
    this.lastSweep = performance.now();
    this.sweepTimer = setInterval(() => this.sweep(), SWEEP_MS);
    this.sweepTimer.unref();
    this.exitHook = () => this.removeFiles();
    process.on("exit", this.exitHook);
  }

  /**
   * Stop serving. With `graceMs` > 0 every client first gets a handover notice and up to
   * `graceMs` to leave (ours move to the next broker, having had everything they sent
   * read); then the remaining connections are flushed and closed. The socket and sidecar
   * are removed first (if still ours), so the next client elects at once.
   */
  stop(graceMs = 0): Promise<void> {
    if (this.stopping) return this.stopping;
    this.stopping = this.shutdown(graceMs);
    return this.stopping;
  }

  private async shutdown(graceMs: number): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.removeFiles();
    if (this.exitHook) process.off("exit", this.exitHook);
    this.exitHook = null;
    server.close();
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    if (this.holdTimer) clearInterval(this.holdTimer);
    this.sweepTimer = this.holdTimer = null;
    this.holders.clear();
    for (const c of this.conns) c.holding = false;
    this.setPaused(false);
    for (const s of this.sinks) s.stopped();
    this.sinks.clear();
    if (graceMs > 0 && this.conns.size > 0) {
      const notice = noticeFrame(process.pid, { event: "handover" });
      for (const c of this.conns) this.send(c, notice, 0);
      await this.waitForConns(graceMs);
    }
    for (const c of this.conns) c.socket.end();
    await this.waitForConns(FLUSH_MS);
    for (const c of [...this.conns]) this.drop(c);
    this.server = null;
    this.emit("close");
  }

  private waitForConns(ms: number): Promise<void> {
    if (this.conns.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const deadline = performance.now() + ms;
      const tick = () => {
        if (this.conns.size === 0 || performance.now() >= deadline) resolve();
        else setTimeout(tick, 5);
      };
      tick();
    });
  }

  private removeFiles(): void {
    const pidPath = busPidPath(this.socketPath);
    try {
      if (readFileSync(pidPath, "utf8").trim() !== String(process.pid)) return; // re-elected elsewhere
    } catch {
      return;
    }
    for (const p of [this.socketPath, pidPath]) {
      try {
        unlinkSync(p);
      } catch {
        /* already gone */
      }
    }
  }

  /** Attach an in-process subscriber; returns the detach function. Never evicted. */
  attachLocal(sink: LocalSink): () => void {
    this.sinks.add(sink);
    this.syncStats();
    return () => {
      this.sinks.delete(sink);
      this.syncStats();
      this.evaluateHold();
    };
  }

  /** A sink's `holding()` may have changed. */
  sinkChanged(): void {
    this.evaluateHold();
  }

  /**
   * Publish complete frames from this thread. `done` runs once they are fanned out (at
   * once, or when back-pressure lifts).
   */
  publishLocal(buf: Buffer, count: number, done: () => void): void {
    if (this.paused) {
      this.heldLocal.push({ buf, count, done });
      return;
    }
    this.fanout(null, buf, count);
    this.syncStats();
    done();
  }

  private accept(socket: Socket): void {
    if (this.stopping) {
      socket.destroy();
      return;
    }
    if (this.unref) socket.unref();
    const conn = new Conn(socket, this);
    conn.lastTaken = performance.now();
    this.conns.add(conn);
    socket.on("data", (chunk: Buffer) => {
      if (!conn.closed) conn.reader.push(chunk);
    });
    socket.on("error", () => this.drop(conn));
    socket.on("close", () => this.drop(conn));
    if (this.paused) socket.pause();
    this.syncStats();
  }

  private drop(conn: Conn): void {
    if (conn.closed) return;
    conn.closed = true;
    this.conns.delete(conn);
    this.partialTotal -= conn.held;
    conn.held = 0;
    if (conn.holding) {
      conn.holding = false;
      this.holders.delete(conn);
      this.evaluateHold();
    }
    conn.socket.destroy();
    this.syncStats();
  }

  /** How `conn`'s bytes are read: its frames are fanned out, then the partial-frame budget is checked. */
  readerFor(conn: Conn): FrameReader {
    const sink: FrameSink = {
      frames: (buf, count) => this.fanout(conn, buf, count),
      oversized: this.onOversized,
      unterminated: (bytes) => {
        this.counters.refused++;
        this.warn("unterminated", `bus: disconnected a client that sent ${bytes} bytes without a newline (limit ${MAX_UNTERMINATED_BYTES})`);
        conn.cut = true;
      },
    };
    return new FrameReader(sink, () => this.afterRead(conn), true);
  }

  private afterRead(conn: Conn): void {
    if (conn.closed) return;
    const held = conn.reader.splitter.heldBytes;
    this.partialTotal += held - conn.held;
    conn.held = held;
    if (!conn.cut && this.partialTotal > MAX_PARTIAL_BYTES) {
      conn.cut = true;
      this.counters.refused++;
      this.warn("partial", `bus: disconnected a client: unfinished frames of all clients exceed ${MAX_PARTIAL_BYTES} bytes`);
    }
    if (conn.cut) this.drop(conn);
    this.syncStats();
  }

  private fanout(origin: Conn | null, buf: Buffer, count: number): void {
    this.counters.framesIn += count;
    for (const c of this.conns) {
      if (c !== origin && !c.closed) this.send(c, buf, count);
    }
    for (const s of this.sinks) {
      this.counters.framesOut += count;
      s.deliver(buf, count);
    }
  }

  /** Queue `buf` (`count` frames; 0 for a notice, which is never dropped) for one connection. */
  private send(c: Conn, buf: Buffer, count: number): void {
    if (count > 0 && c.queued + buf.length > this.policy.queueBytes) {
      c.unreported += count;
      this.counters.dropped += count;
      return;
    }
    const now = performance.now();
    if (c.queued === 0) c.lastTaken = now;
    c.queued += buf.length;
    c.log.push(buf.length, now);
    this.counters.framesOut += count;
    c.socket.write(buf, c.onWritten);
    if (!c.holding && c.queued > this.policy.holdBytes && !this.stopping) {
      c.holding = true;
      this.holders.add(c);
      this.evaluateHold();
    }
  }

  /** A write to `c` reached the kernel: it took something. */
  written(c: Conn, err?: Error | null): void {
    if (err || c.closed) return;
    c.queued -= c.log.shift();
    c.lastTaken = performance.now();
    if (c.unreported > 0 && c.queued <= this.policy.queueBytes / 2) {
      const n = c.unreported;
      c.unreported = 0;
      this.send(c, noticeFrame(process.pid, { event: "dropped", dropped: n }), 0);
    }
    if (c.holding && c.queued <= this.policy.holdBytes) {
      c.holding = false;
      this.holders.delete(c);
      this.evaluateHold();
    }
  }

  /** Hold publishers while some subscriber that keeps up is behind. */
  private evaluateHold(): void {
    let hold = false;
    if (!this.stopping) {
      const now = performance.now();
      for (const c of this.holders) {
        const oldest = c.log.oldestAt();
        if (oldest !== undefined && now - oldest < this.policy.lagMs) {
          hold = true;
          break;
        }
      }
      if (!hold) for (const s of this.sinks) if (s.holding()) hold = true;
    }
    this.setPaused(hold);
    // Ages grow without events: watch while a connection is over its mark (sinks report their own changes).
    const watch = this.holders.size > 0;
    if (watch && !this.holdTimer) {
      this.holdTimer = setInterval(() => this.evaluateHold(), HOLD_CHECK_MS);
      this.holdTimer.unref();
    } else if (!watch && this.holdTimer) {
      clearInterval(this.holdTimer);
      this.holdTimer = null;
    }
  }

  private setPaused(paused: boolean): void {
    if (paused === this.paused) return;
    this.paused = paused;
    for (const c of this.conns) {
      if (paused) c.socket.pause();
      else c.socket.resume();
    }
    if (!paused && this.heldLocal.length > 0) {
      const held = this.heldLocal;
      this.heldLocal = [];
      for (let i = 0; i < held.length; i++) {
        if (this.paused) {
          this.heldLocal.push(...held.slice(i));
          break;
        }
        const h = held[i]!;
        this.fanout(null, h.buf, h.count);
        h.done();
      }
    }
  }

  /** Evict subscribers that took nothing for EVICT_AFTER_MS, not counting time this thread itself was stalled. */
  private sweep(): void {
    const now = performance.now();
    const stalled = now - this.lastSweep - SWEEP_MS;
    this.lastSweep = now;
    for (const c of [...this.conns]) {
      if (c.queued === 0) continue;
      if (stalled > SWEEP_MS) c.lastTaken += stalled;
      if (now - c.lastTaken > this.policy.evictAfterMs) {
        this.counters.evicted++;
        this.warn("evicted", `bus: evicted a subscriber that took nothing for ${this.policy.evictAfterMs / 1000} s`);
        this.drop(c);
      }
    }
  }

  /** At most one warning per kind per second; the next one says how many were left out. */
  private warn(kind: string, text: string): void {
    const now = performance.now();
    const w = this.warned.get(kind);
    if (w && now - w.at < WARNING_INTERVAL_MS) {
      w.suppressed++;
      return;
    }
    const more = w && w.suppressed > 0 ? ` (and ${w.suppressed} more like it)` : "";
    this.warned.set(kind, { at: now, suppressed: 0 });
    this.emit("warning", text + more);
  }
}
