import { EventEmitter } from "node:events";
import { chmodSync, readFileSync, unlinkSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { writeFileAtomicSync } from "../util/atomic.js";
import { busPidPath } from "./paths.js";

/** Frames over this size are dropped with a warning: a finding that big is almost certainly a bug (seed limit). */
export const MAX_FRAME_BYTES = 64 * 1024;
/** A client that sends this much without a newline is not speaking the protocol: disconnect it (memory bound). */
export const MAX_UNTERMINATED_BYTES = 256 * 1024;
/** A subscriber that cannot take a frame within this time is evicted, so one wedged reader never stalls the others. */
export const EVICT_AFTER_MS = 200;
/**
 * Bytes queued for one subscriber beyond which further frames are dropped for it until it drains:
 * bounds broker memory per wedged reader during the eviction grace period (16 frames of 64 KiB).
 */
export const MAX_PENDING_BYTES = 1024 * 1024;

export interface BrokerStats {
  /** Connected clients (every connection receives what the others send). */
  subscribers: number;
  framesIn: number;
  framesOut: number;
  /** Frames dropped: oversized, or not delivered to a subscriber being evicted. */
  dropped: number;
  evicted: number;
}

interface Conn {
  socket: Socket;
  /** Bytes of an unterminated frame so far. */
  partial: Buffer[];
  partialLen: number;
  /** Discarding an oversized frame until its newline. */
  discarding: boolean;
  discarded: number;
  evictTimer: NodeJS.Timeout | null;
}

/**
 * The fan-out broker: every complete frame a connection sends is forwarded, byte for byte,
 * to every other connection. It never parses frames (unknown fields of other
 * implementations survive); validation is the subscriber's job.
 *
 * Events: `warning` (string), `close`.
 */
export class Broker extends EventEmitter {
  readonly socketPath: string;
  private server: Server | null = null;
  private readonly conns = new Set<Conn>();
  private readonly counters = { framesIn: 0, framesOut: 0, dropped: 0, evicted: 0 };
  private exitHook: (() => void) | null = null;

  constructor(socketPath: string) {
    super();
    this.socketPath = socketPath;
  }

  stats(): BrokerStats {
    return { subscribers: this.conns.size, ...this.counters };
  }

  /**
   * Bind the socket (never wider than 0600, even briefly), then write the PID sidecar
   * atomically. If the sidecar cannot be written the broker stops, removes its socket and
   * rejects with the OS error: running without a sidecar would let peers see it as dead
   * and split the bus. The caller holds the election lock.
   */
  async start(): Promise<void> {
    const server = createServer({ allowHalfOpen: false }, (s) => this.accept(s));
    await new Promise<void>((resolve, reject) => {
      const oldMask = process.umask(0o177);
      const onError = (err: Error) => {
        process.umask(oldMask);
        reject(err);
      };
      server.once("error", onError);
      try {
        server.listen(this.socketPath, () => {
          server.off("error", onError);
          resolve();
        });
      } finally {
        // listen() binds synchronously for Unix sockets; the mask only needs to cover the bind.
        process.umask(oldMask);
      }
    });
    try {
      chmodSync(this.socketPath, 0o600);
      writeFileAtomicSync(busPidPath(this.socketPath), String(process.pid), 0o600);
    } catch (err) {
      await new Promise<void>((r) => server.close(() => r()));
      try {
        unlinkSync(this.socketPath);
      } catch {
        /* already gone */
      }
      throw err;
    }
    server.on("error", (err) => this.emit("warning", `bus broker error: ${err.message}`));
    server.unref();
    this.server = server;
    this.exitHook = () => this.removeFiles();
    process.on("exit", this.exitHook);
  }

  /** Stop serving, disconnect everyone and remove the socket and sidecar if they are still ours. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    for (const c of this.conns) this.drop(c);
    this.removeFiles();
    if (this.exitHook) process.off("exit", this.exitHook);
    this.exitHook = null;
    await new Promise<void>((r) => server.close(() => r()));
    this.emit("close");
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

  private accept(socket: Socket): void {
    socket.unref();
    const conn: Conn = { socket, partial: [], partialLen: 0, discarding: false, discarded: 0, evictTimer: null };
    this.conns.add(conn);
    socket.on("data", (chunk: Buffer) => this.onData(conn, chunk));
    socket.on("drain", () => {
      if (conn.evictTimer) {
        clearTimeout(conn.evictTimer);
        conn.evictTimer = null;
      }
    });
    socket.on("error", () => this.drop(conn));
    socket.on("close", () => this.drop(conn));
  }

  private drop(conn: Conn): void {
    if (!this.conns.delete(conn)) return;
    if (conn.evictTimer) clearTimeout(conn.evictTimer);
    conn.socket.destroy();
  }

  private onData(conn: Conn, chunk: Buffer): void {
    const frames: Buffer[] = [];
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      if (nl < 0) break;
      const piece = chunk.subarray(start, nl + 1);
      start = nl + 1;
      if (conn.discarding) {
        this.dropOversized(conn, conn.discarded + piece.length);
        conn.discarding = false;
        conn.discarded = 0;
        continue;
      }
      const size = conn.partialLen + piece.length;
      if (size > MAX_FRAME_BYTES) {
        this.dropOversized(conn, size);
      } else if (conn.partialLen > 0) {
        frames.push(Buffer.concat([...conn.partial, piece], size));
      } else if (piece.length > 1 || piece[0] !== 0x0a) {
        frames.push(piece);
      }
      conn.partial = [];
      conn.partialLen = 0;
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      if (conn.discarding) {
        conn.discarded += rest.length;
      } else if (conn.partialLen + rest.length > MAX_FRAME_BYTES) {
        // Oversized already: stop keeping its bytes, just count them to the newline.
        conn.discarding = true;
        conn.discarded = conn.partialLen + rest.length;
        conn.partial = [];
        conn.partialLen = 0;
      } else {
        // Copy: `chunk` may be a slice of a pooled buffer reused by the next read.
        conn.partial.push(Buffer.from(rest));
        conn.partialLen += rest.length;
      }
      if (conn.discarding && conn.discarded > MAX_UNTERMINATED_BYTES) {
        this.emit(
          "warning",
          `bus: disconnected a client that sent ${conn.discarded} bytes without a newline (limit ${MAX_UNTERMINATED_BYTES})`,
        );
        this.counters.dropped++;
        this.drop(conn);
        return;
      }
    }
    if (frames.length === 0) return;
    this.counters.framesIn += frames.length;
    const out = frames.length === 1 ? frames[0]! : Buffer.concat(frames);
    for (const other of this.conns) {
      if (other === conn) continue;
      this.send(other, out, frames.length);
    }
  }

  private dropOversized(conn: Conn, size: number): void {
    this.counters.dropped++;
    void conn;
    this.emit("warning", `bus: dropped a ${size}-byte frame (limit ${MAX_FRAME_BYTES})`);
  }

  private send(conn: Conn, data: Buffer, count: number): void {
    const s = conn.socket;
    if (s.destroyed) return;
    if (s.writableLength > MAX_PENDING_BYTES) {
      // Backed up and about to be evicted: at-most-once, so this frame is dropped for it.
      this.counters.dropped += count;
      return;
    }
    this.counters.framesOut += count;
    if (!s.write(data) && !conn.evictTimer) {
      conn.evictTimer = setTimeout(() => {
        this.counters.evicted++;
        this.emit("warning", `bus: evicted a subscriber that did not read for ${EVICT_AFTER_MS} ms`);
        this.drop(conn);
      }, EVICT_AFTER_MS);
      conn.evictTimer.unref();
    }
  }
}
