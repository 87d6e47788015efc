/**
 * The bus thread: a worker that owns every bus socket of the process — the broker this
 * process hosts, publisher links, subscriptions — so the bus is served and read whatever
 * the main thread is busy with. The main thread talks to it through `channel.ts`.
 */
import type { Socket } from "node:net";
import { parentPort, workerData } from "node:worker_threads";
import { Broker, HANDOVER_GRACE_MS, LAG_MS, type LocalSink } from "./broker.js";
import { fromWire } from "./errors.js";
import { FrameReader, MAX_FRAME_BYTES, MAX_UNTERMINATED_BYTES, eachFrame, type FrameSink } from "./framing.js";
import { Link, joinPends, openSocket, type LinkEvents, type Pend } from "./link.js";
import { readLiveBroker } from "./liveness.js";
import { noticePrefix, rawNotice } from "./notices.js";
import { CTRL_EXIT_DONE, toWire, type FromThread, type ToThread } from "./protocol.js";
import { SubQueue } from "./subqueue.js";

const port = parentPort!;
const ctrl = new Int32Array((workerData as { ctrl: SharedArrayBuffer }).ctrl);
let exiting = false;

function post(msg: FromThread, transfer?: ArrayBuffer[]): void {
  port.postMessage(msg, transfer);
}

/** Confirmations are sent together, once per turn of the event loop. */
let confirmedSeqs: number[] = [];
function confirm(seqs: number[]): void {
  if (confirmedSeqs.length === 0) {
    setImmediate(() => {
      const all = confirmedSeqs;
      confirmedSeqs = [];
      const seqs = Float64Array.from(all);
      post({ op: "confirmed", seqs }, [seqs.buffer]);
      checkFlush();
    });
  }
  for (const s of seqs) confirmedSeqs.push(s);
}

// ------------------------------------------------------------------ hosted brokers

const hosted = new Map<string, Broker>();
const hostedHere = (path: string): boolean => hosted.get(path)?.listening === true;

async function startBroker(path: string, stats: SharedArrayBuffer): Promise<void> {
  const broker = new Broker(path, { unref: false });
  broker.on("warning", (text: string) => post({ op: "warning", text }));
  await broker.start();
  broker.mirrorStats(new Float64Array(stats));
  hosted.set(path, broker);
  broker.once("close", () => {
    if (hosted.get(path) === broker) hosted.delete(path);
  });
}

async function stopBroker(path: string, graceMs: number): Promise<void> {
  const broker = hosted.get(path);
  if (!broker) return;
  hosted.delete(path);
  await broker.stop(graceMs);
}

// ------------------------------------------------------------------ elections (done by the main thread, which holds the lock)

interface Owner {
  pid: number;
  hosted: boolean;
}
const electWaiters = new Map<string, Array<{ resolve: (o: Owner) => void; reject: (e: Error) => void }>>();

function requestBroker(path: string): Promise<Owner> {
  if (exiting) return Promise.reject(new Error("the process is exiting"));
  return new Promise((resolve, reject) => {
    const list = electWaiters.get(path);
    if (list) list.push({ resolve, reject });
    else {
      electWaiters.set(path, [{ resolve, reject }]);
      post({ op: "elect", path });
    }
  });
}

function settleElection(path: string, outcome: Owner | Error): void {
  const list = electWaiters.get(path) ?? [];
  electWaiters.delete(path);
  for (const w of list) outcome instanceof Error ? w.reject(outcome) : w.resolve(outcome);
}

// ------------------------------------------------------------------ publishing

interface PubState {
  path: string;
  outbox: Pend[];
  link: Link | null;
  links: Set<Link>;
  electing: boolean;
  failures: number;
}
const pubs = new Map<string, PubState>();
/** Publishes waiting for a link or a broker connect: the connect is retried this many times (re-electing). */
const CONNECT_ATTEMPTS = 3;

function pubState(path: string): PubState {
  let st = pubs.get(path);
  if (!st) {
    st = { path, outbox: [], link: null, links: new Set(), electing: false, failures: 0 };
    pubs.set(path, st);
  }
  return st;
}

function failOutbox(st: PubState, err: unknown): void {
  const seqs = st.outbox.map((p) => p.seq);
  st.outbox = [];
  if (seqs.length > 0) post({ op: "failed", seqs, error: toWire(err) });
  checkFlush();
}

function linkEvents(st: PubState): LinkEvents {
  return {
    confirmed: (seqs) => confirm(seqs),
    failed: (seqs, err) => {
      post({ op: "failed", seqs, error: toWire(err) });
      checkFlush();
    },
    requeue: (pends) => {
      st.outbox.unshift(...pends);
      pump(st);
    },
    detached: (link) => {
      if (st.link === link) st.link = null;
      pump(st);
    },
    closed: (link) => {
      st.links.delete(link);
      checkFlush();
    },
  };
}

function pump(st: PubState): void {
  if (st.outbox.length === 0) return;
  const broker = hosted.get(st.path);
  if (broker?.listening) {
    const frames = st.outbox;
    st.outbox = [];
    const buf = joinPends(frames);
    broker.publishLocal(buf, frames.length, () => confirm(frames.map((f) => f.seq)));
    return;
  }
  if (st.link) {
    if (st.link.state === "open") {
      st.link.send(st.outbox);
      st.outbox = [];
    }
    return; // connecting: pumped once open
  }
  if (st.electing) return;
  if (exiting) {
    failOutbox(st, new Error("the process is exiting"));
    return;
  }
  st.electing = true;
  requestBroker(st.path).then(
    async (owner) => {
      st.electing = false;
      if (owner.hosted) {
        st.failures = 0;
        pump(st);
        return;
      }
      const link = new Link(st.path, owner.pid, linkEvents(st));
      st.link = link;
      st.links.add(link);
      try {
        await link.connect();
        st.failures = 0;
      } catch (err) {
        st.links.delete(link);
        if (st.link === link) st.link = null;
        if (++st.failures >= CONNECT_ATTEMPTS) {
          st.failures = 0;
          failOutbox(st, err);
        } else {
          setTimeout(() => pump(st), 25 * st.failures);
        }
        return;
      }
      pump(st);
    },
    (err: Error) => {
      st.electing = false;
      failOutbox(st, err);
    },
  );
}

function publish(path: string, seqs: Float64Array, data: Uint8Array, ends: Float64Array): void {
  const st = pubState(path);
  const all = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const now = performance.now();
  let start = 0;
  for (let i = 0; i < seqs.length; i++) {
    st.outbox.push({ seq: seqs[i]!, data: all.subarray(start, ends[i]!), at: now });
    start = ends[i]!;
  }
  pump(st);
}

function publishingSettled(): boolean {
  if (confirmedSeqs.length > 0) return false;
  for (const st of pubs.values()) {
    if (st.outbox.length > 0) return false;
    for (const l of st.links) if (l.pending > 0) return false;
  }
  return true;
}

const flushWaiters: Array<{ req: number; close: boolean }> = [];
function checkFlush(): void {
  if (flushWaiters.length === 0 || !publishingSettled()) return;
  for (const w of flushWaiters.splice(0)) {
    if (w.close) {
      for (const st of pubs.values()) {
        for (const l of st.links) l.drain();
        st.link = null;
      }
    }
    post({ op: "reply", req: w.req });
  }
}

// ------------------------------------------------------------------ subscriptions

interface Feed {
  readonly pid: number;
  /** The reader took something: maybe read again. */
  taken(): void;
  close(): void;
}

class SocketFeed implements Feed {
  private readonly prefix: Buffer;
  private paused = false;
  private timer: NodeJS.Timeout | null = null;
  readonly reader: FrameReader;
  private socket: Socket | null = null;
  current = true;

  private constructor(
    private readonly sub: Sub,
    readonly pid: number,
  ) {
    this.prefix = noticePrefix(pid);
    const sink: FrameSink = {
      frames: (run, count) => {
        // A notice from this broker is rare: look for its prefix in the whole run first.
        if (this.current && run.indexOf(this.prefix) >= 0) {
          eachFrame(run, (f) => {
            if (rawNotice(f, pid, this.prefix)?.event === "handover") sub.migrate();
          });
        }
        sub.q.pushRun(run, count);
      },
      oversized: (bytes) => sub.q.mark({ bad: `frame of ${bytes} bytes exceeds the ${MAX_FRAME_BYTES}-byte limit` }),
      unterminated: () => sub.q.mark({ bad: `frame exceeds ${MAX_UNTERMINATED_BYTES} bytes without a newline` }),
    };
    this.reader = new FrameReader(sink, () => this.regulate());
  }

  /** Connect to the broker `pid` serves. */
  static async open(sub: Sub, pid: number): Promise<SocketFeed> {
    const feed = new SocketFeed(sub, pid);
    const socket = await openSocket(sub.path, feed.reader);
    feed.socket = socket;
    socket.on("error", () => undefined);
    socket.on("close", () => {
      feed.stopTimer();
      if (feed.current) sub.feedClosed(feed);
    });
    feed.regulate();
    return feed;
  }

  taken(): void {
    this.regulate();
  }

  /** Pause reading while the reader is behind but taking; read (and drop) once it has stalled. */
  private regulate(): void {
    const hold = this.sub.q.wantsHold();
    if (!this.socket) return;
    if (hold && !this.paused) {
      this.paused = true;
      this.socket.pause();
      if (!this.timer) {
        this.timer = setInterval(() => {
          this.sub.q.flush();
          this.regulate();
        }, 25);
        this.timer.unref();
      }
    } else if (!hold && this.paused) {
      this.paused = false;
      this.socket.resume();
      this.stopTimer();
    }
  }

  private stopTimer(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  close(): void {
    this.current = false;
    this.stopTimer();
    this.socket?.destroy();
  }
}

class LocalFeed implements Feed {
  private holdingNow = false;
  private timer: NodeJS.Timeout | null = null;
  private readonly detach: () => void;
  readonly pid = process.pid;
  private closed = false;

  constructor(
    private readonly sub: Sub,
    private readonly broker: Broker,
  ) {
    const sink: LocalSink = {
      deliver: (buf, count) => {
        sub.q.pushRun(buf, count);
        this.regulate();
      },
      holding: () => this.holdingNow,
      stopped: () => {
        this.stopTimer();
        if (!this.closed) sub.feedClosed(this);
      },
    };
    this.detach = broker.attachLocal(sink);
  }

  taken(): void {
    this.regulate();
  }

  /** Hold the broker's publishers while the reader is behind, taking, and not lagging by LAG_MS. */
  private regulate(): void {
    const oldest = this.sub.q.oldestAt();
    const lagging = oldest !== undefined && performance.now() - oldest > LAG_MS;
    const hold = this.sub.q.wantsHold() && !lagging;
    if (hold !== this.holdingNow) {
      this.holdingNow = hold;
      this.broker.sinkChanged();
    }
    if (hold && !this.timer) {
      this.timer = setInterval(() => {
        this.sub.q.flush();
        this.regulate();
      }, 25);
      this.timer.unref();
    } else if (!hold) this.stopTimer();
  }

  private stopTimer(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  close(): void {
    this.closed = true;
    this.stopTimer();
    this.holdingNow = false;
    this.detach();
  }
}


class Sub {
  readonly q: SubQueue;
  private feed: Feed | null = null;
  private migrating = false;
  private closed = false;

  constructor(
    readonly id: number,
    readonly path: string,
    taken: SharedArrayBuffer,
  ) {
    this.q = new SubQueue((data, events, ab) => post({ op: "frames", sub: id, data, events }, [ab]), new Int32Array(taken));
  }

  /** Attach to the broker `pid` (this thread's own when `hostedHere`). */
  async attach(pid: number): Promise<Feed> {
    const broker = hosted.get(this.path);
    if (pid === process.pid && broker?.listening) return new LocalFeed(this, broker);
    return SocketFeed.open(this, pid);
  }

  use(feed: Feed): void {
    if (this.closed) {
      feed.close();
      return;
    }
    this.feed = feed;
  }

  /** The broker announced a handover: attach to the next one, then let go of this one. */
  migrate(): void {
    if (this.migrating || this.closed || exiting) return;
    this.migrating = true;
    const old = this.feed;
    const attempt = async (n: number): Promise<void> => {
      const owner = await requestBroker(this.path);
      try {
        const feed = await this.attach(owner.pid);
        if (this.closed) {
          feed.close();
          return;
        }
        this.q.mark({ handover: { from: old?.pid ?? 0, to: owner.pid } });
        this.feed = feed;
        this.migrating = false;
        old?.close();
      } catch (err) {
        if (n + 1 >= CONNECT_ATTEMPTS) throw err;
        await new Promise((r) => setTimeout(r, 25 * (n + 1)));
        return attempt(n + 1);
      }
    };
    attempt(0).catch((err: unknown) => {
      this.migrating = false;
      this.end("gone", old?.pid ?? 0, err);
    });
  }

  feedClosed(feed: Feed): void {
    if (this.closed || feed !== this.feed || this.migrating) return;
    if (feed instanceof LocalFeed) {
      this.end("stopped", feed.pid);
      return;
    }
    // Was it cut off by a live broker, or did the broker die? A dying process closes its
    // sockets a moment before it is seen as exited: look again shortly after.
    setTimeout(() => {
      if (this.closed || feed !== this.feed) return;
      const live = readLiveBroker(this.path, hostedHere);
      this.end(live?.pid === feed.pid ? "disconnected" : "gone", feed.pid);
    }, 50);
  }

  /** The reader took frames (its position is in the shared counter). */
  taken(): void {
    this.q.wake();
    this.feed?.taken();
  }

  private end(reason: "gone" | "disconnected" | "stopped", pid: number, err?: unknown): void {
    if (this.closed) return;
    this.closed = true;
    // Whatever is queued is handed over first; the close follows it in order.
    this.q.flushAll();
    post({ op: "subClosed", sub: this.id, reason, brokerPid: pid, error: err === undefined ? undefined : toWire(err) });
    this.feed?.close();
    this.feed = null;
    subs.delete(this.id);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.q.close();
    this.feed?.close();
    this.feed = null;
    subs.delete(this.id);
  }
}

const subs = new Map<number, Sub>();

async function subscribe(id: number, path: string, pid: number, taken: SharedArrayBuffer): Promise<void> {
  const sub = new Sub(id, path, taken);
  subs.set(id, sub);
  try {
    sub.use(await sub.attach(pid));
  } catch (err) {
    subs.delete(id);
    throw err;
  }
}

// ------------------------------------------------------------------ process exit

/**
 * The process is exiting (its main thread waits on `ctrl` for at most until `deadline`,
 * a Date.now() time): settle what was published, hand hosted brokers over, close the rest.
 */
async function exit(deadline: number): Promise<void> {
  exiting = true;
  for (const path of [...electWaiters.keys()]) settleElection(path, new Error("the process is exiting"));
  for (const st of pubs.values()) if (!st.link && st.outbox.length > 0) failOutbox(st, new Error("the process is exiting"));
  const left = () => deadline - Date.now();
  // Leave the handover its grace period out of the time we have.
  while (!publishingSettled() && left() > HANDOVER_GRACE_MS + 100) await new Promise((r) => setTimeout(r, 2));
  await Promise.all([...hosted.keys()].map((p) => stopBroker(p, Math.max(0, Math.min(HANDOVER_GRACE_MS, left() - 100)))));
  for (const st of pubs.values()) for (const l of st.links) l.destroy();
  for (const s of [...subs.values()]) s.close();
}

// ------------------------------------------------------------------ messages

async function reply(req: number, work: () => Promise<void>): Promise<void> {
  try {
    await work();
    post({ op: "reply", req });
  } catch (err) {
    post({ op: "reply", req, error: toWire(err) });
  }
}

port.on("message", (m: ToThread) => {
  switch (m.op) {
    case "startBroker":
      void reply(m.req, () => startBroker(m.path, m.stats));
      break;
    case "stopBroker":
      void reply(m.req, () => stopBroker(m.path, m.graceMs));
      break;
    case "publish":
      publish(m.path, m.seqs, m.data, m.ends);
      break;
    case "elected":
      settleElection(m.path, { pid: m.pid, hosted: m.hosted });
      break;
    case "electFailed":
      settleElection(m.path, fromWire(m.error));
      break;
    case "subscribe":
      void reply(m.req, () => subscribe(m.sub, m.path, m.pid, m.taken));
      break;
    case "taken":
      subs.get(m.sub)?.taken();
      break;
    case "unsubscribe":
      subs.get(m.sub)?.close();
      break;
    case "flush":
      flushWaiters.push({ req: m.req, close: m.close });
      checkFlush();
      break;
    case "exit":
      void exit(m.deadline).finally(() => {
        Atomics.store(ctrl, CTRL_EXIT_DONE, 1);
        Atomics.notify(ctrl, CTRL_EXIT_DONE);
      });
      break;
  }
});

