import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import type { Adapter, FileParser, MetaPatch, ParseSink } from "../fleet/transcripts/adapter.js";
import { hash53 } from "../fleet/transcripts/keyset.js";
import type { TokenUsage, TranscriptEvent } from "../fleet/transcripts/types.js";
import { isWholeJsonObject } from "../fleet/transcripts/reader.js";
import { NeedleScanner, needlesFor } from "./prefilter.js";

/**
 * The parse half of history ingest: reads a transcript from a byte offset, hands the lines
 * that can carry usage to the adapter's own parser, and turns its events into the few
 * records history counts. No database here, so it runs in a worker thread as well as in
 * the main one; the count half (`count.ts`) applies the records under the database's
 * write lock, where responses are de-duplicated.
 */

/** Bytes read per syscall. */
export const CHUNK_BYTES = 1024 * 1024;
/** A line longer than this is not a transcript record: skipped, as the live view does. */
export const MAX_LINE_BYTES = 32 * 1024 * 1024;
/** Whole-JSON transcripts (Gemini's chat files) above this are skipped, as the live view does. */
export const MAX_WHOLE_FILE_BYTES = 64 * 1024 * 1024;
/**
 * A parser started at a stored offset (a new process) first re-reads up to this much before
 * it, counting nothing: the adapter regains its state (Codex's last cumulative total, the
 * model) and the counter the responses a following line may still extend. Lines of one
 * response are adjacent, and a turn's records are a few KB apart.
 */
export const WARMUP_BYTES = 256 * 1024;

/** The read buffer, reused by every scan of this thread (a fresh megabyte per slice cost page faults and GC). */
let chunk: Buffer | null = null;

/** What history counts, per record. `key` is the 53-bit hash of the response's dedupe key, 0 when it has none. */
export type CountRecord =
  | { k: "req"; t: number; key: number; model: string | null; usage: TokenUsage; reportedUsd: number | null }
  | { k: "err"; t: number; key: number; model: string | null }
  | { k: "turn"; t: number; ms: number; model: string | null };

export interface FileMeta {
  cwd: string | null;
  sessionId: string | null;
  parentSessionId: string | null;
  model: string | null;
}

/**
 * A later line of a response within this many keyed records of its first line in the same
 * slice is merged into that record where it is parsed (usage raised to the largest value per
 * kind), as the counter would merge it: the counter keeps at least 2,048 responses open
 * (MERGE_OPEN / 2), so a line this close is always merged there too. Claude writes one line
 * per content block of a response, so this halves the records crossing to the counter.
 */
export const PREMERGE_WINDOW = 1024;

export interface ParsedSlice {
  /** Where this slice starts and ends: bytes for line transcripts, counted records for whole-file ones. */
  from: number;
  to: number;
  /** Records to count, in file order. */
  records: CountRecord[];
  /** Records already counted before `from`, re-read to restore de-duplication state (never counted again). */
  warm: CountRecord[];
  meta: FileMeta;
  bad: number;
  /** The file at the time it was read. */
  size: number;
  mtimeMs: number;
  ino: number;
  dev: number;
  /** True when the file has more bytes to read after `to` (the slice stopped at its byte limit). */
  more: boolean;
  /** Times of the lines merged into an earlier record of `records` (first, last; ±Infinity when none): they still widen the session's span. */
  mergedFirst: number;
  mergedLast: number;
}

export function emptyMeta(): FileMeta {
  return { cwd: null, sessionId: null, parentSessionId: null, model: null };
}

/**
 * One transcript file being read for history: the adapter's parser with its state, the
 * session metadata learnt so far, and where the next read starts.
 */
export class FileParse {
  readonly meta: FileMeta;
  private readonly parser: FileParser;
  private readonly needles: Buffer[] | null;
  private promptAt: number | null = null;
  private out: CountRecord[] = [];
  private bad = 0;
  private backlog: boolean;
  /** Whole-file transcripts: records to treat as already counted on the next read. */
  private skip = 0;

  constructor(
    readonly adapter: Adapter,
    readonly path: string,
    meta: FileMeta,
    /** Where the next read starts (bytes, or counted records for whole-file transcripts). */
    public offset: number,
    private readonly now: () => number = Date.now,
    filter = true,
  ) {
    const init = adapter.initialMeta(path);
    this.meta = {
      cwd: meta.cwd ?? init.cwd ?? null,
      sessionId: meta.sessionId ?? init.sessionId ?? null,
      parentSessionId: meta.parentSessionId ?? init.parentSessionId ?? null,
      model: meta.model,
    };
    this.parser = adapter.newParser(path);
    this.needles = filter ? needlesFor(adapter.provider) : null;
    this.backlog = offset === 0;
    this.warmed = offset === 0;
    if (this.parser.whole) this.skip = offset;
  }

  /** False until the bytes before a stored offset have been re-read (see WARMUP_BYTES). */
  private warmed: boolean;

  get whole(): boolean {
    return this.parser.whole !== undefined;
  }

  private sink(): ParseSink {
    return {
      event: (e) => this.onEvent(e),
      meta: (p) => this.onMeta(p),
      bad: () => this.bad++,
      readAt: this.now(),
      backlog: this.backlog,
      usageOnly: true,
    };
  }

  private onMeta(p: MetaPatch): void {
    if (p.cwd !== undefined) this.meta.cwd = p.cwd;
    if (p.sessionId !== undefined) this.meta.sessionId = p.sessionId;
    if (p.model !== undefined) this.meta.model = p.model;
    if (p.parentSessionId !== undefined) this.meta.parentSessionId = p.parentSessionId;
  }

  /** Pre-merge state of the slice being read (line transcripts only, never while warming up): key → its request record. */
  private merging = false;
  private readonly openReqs = new Map<number, { i: number; n: number }>();
  private keyed = 0;
  private mergedFirst = Infinity;
  private mergedLast = -Infinity;

  /** Merge a later line of a response into its record of this slice, exactly as the counter would; false when it cannot. */
  private premerge(key: number, e: Extract<TranscriptEvent, { kind: "request" }>): boolean {
    const open = this.openReqs.get(key);
    if (!open || this.keyed - open.n >= PREMERGE_WINDOW) return false;
    const prior = this.out[open.i]!;
    // the counter prices a merge as the difference of two prices and leaves an agent's own cost statement as stated: merge only plain priced lines
    if (prior.k !== "req" || prior.reportedUsd !== null || e.reportedUsd !== null) return false;
    const u = prior.usage;
    if (u.input + u.output + u.cacheWrite5m + u.cacheWrite1h + u.cacheRead <= 0) return false; // an empty first line: the counter decides (unpriced counts)
    const n = e.usage;
    if (n.input > u.input) u.input = n.input;
    if (n.output > u.output) u.output = n.output;
    if (n.reasoning > u.reasoning) u.reasoning = n.reasoning;
    if (n.cacheWrite5m > u.cacheWrite5m) u.cacheWrite5m = n.cacheWrite5m;
    if (n.cacheWrite1h > u.cacheWrite1h) u.cacheWrite1h = n.cacheWrite1h;
    if (n.cacheRead > u.cacheRead) u.cacheRead = n.cacheRead;
    if (e.t < this.mergedFirst) this.mergedFirst = e.t;
    if (e.t > this.mergedLast) this.mergedLast = e.t;
    return true;
  }

  private onEvent(e: TranscriptEvent): void {
    switch (e.kind) {
      case "request": {
        const key = e.dedupeKey ? hash53(e.dedupeKey) : 0;
        if (key && this.merging) {
          if (this.premerge(key, e)) return;
          this.openReqs.set(key, { i: this.out.length, n: this.keyed++ });
        }
        this.out.push({ k: "req", t: e.t, key, model: e.model ?? this.meta.model, usage: { ...e.usage }, reportedUsd: e.reportedUsd });
        return;
      }
      case "api_error":
        this.out.push({ k: "err", t: e.t, key: e.dedupeKey ? hash53(e.dedupeKey) : 0, model: this.meta.model });
        return;
      case "user_prompt":
        this.promptAt = e.t;
        return;
      case "turn_end": {
        // the agent's own turn duration, else prompt → turn end; 0 is no measurement (Aider's records carry no times)
        const ms = e.durationMs ?? (this.promptAt !== null ? e.t - this.promptAt : null);
        this.promptAt = null;
        if (ms !== null && ms > 0) this.out.push({ k: "turn", t: e.t, ms, model: this.meta.model });
        return;
      }
      default:
        return;
    }
  }

  /**
   * Read from `offset` up to `maxBytes` (whole lines only: a partial last line is left for
   * the next read). Synchronous: history reads are bounded slices.
   */
  read(maxBytes = Infinity): ParsedSlice {
    const fd = openSync(this.path, "r");
    try {
      const st = fstatSync(fd);
      const base = { size: st.size, mtimeMs: st.mtimeMs, ino: st.ino, dev: st.dev };
      if (this.parser.whole) return { ...base, ...this.readWhole(fd, st.size) };
      let warm: CountRecord[] = [];
      if (!this.warmed) {
        this.warmed = true;
        if (this.offset > 0) {
          const start = Math.max(0, this.offset - WARMUP_BYTES);
          this.scan(fd, start, this.offset, start > 0, this.offset - start);
          warm = this.take();
        }
      }
      const from = this.offset;
      this.merging = true;
      let to: number;
      try {
        to = this.scan(fd, from, st.size, false, maxBytes);
      } finally {
        this.merging = false;
        this.openReqs.clear();
        this.keyed = 0;
      }
      this.offset = to;
      this.backlog = false;
      const bad = this.bad;
      this.bad = 0;
      const mergedFirst = this.mergedFirst;
      const mergedLast = this.mergedLast;
      this.mergedFirst = Infinity;
      this.mergedLast = -Infinity;
      return { ...base, from, to, records: this.take(), warm, meta: { ...this.meta }, bad, more: to < st.size && to - from >= maxBytes, mergedFirst, mergedLast };
    } finally {
      closeSync(fd);
    }
  }

  private take(): CountRecord[] {
    const r = this.out;
    this.out = [];
    return r;
  }

  private readWhole(fd: number, size: number): Omit<ParsedSlice, "size" | "mtimeMs" | "ino" | "dev"> {
    const from = this.skip;
    if (size > MAX_WHOLE_FILE_BYTES) {
      return { from, to: from, records: [], warm: [], meta: { ...this.meta }, bad: 0, more: false, mergedFirst: Infinity, mergedLast: -Infinity };
    }
    const buf = Buffer.allocUnsafe(size);
    let off = 0;
    while (off < size) {
      const n = readSync(fd, buf, off, size - off, off);
      if (n === 0) break;
      off += n;
    }
    this.parser.whole!(buf.toString("utf8", 0, off), this.sink());
    this.backlog = false;
    const all = this.take();
    // the first `skip` countable records were counted by an earlier read (an earlier process)
    let seen = 0;
    const warm: CountRecord[] = [];
    const records: CountRecord[] = [];
    for (const r of all) {
      if (r.k !== "turn" && seen < this.skip) {
        seen++;
        warm.push(r);
      } else records.push(r);
    }
    const counted = records.filter((r) => r.k !== "turn").length;
    this.skip = 0; // this parser now remembers what it has emitted itself
    this.offset = from + counted;
    const bad = this.bad;
    this.bad = 0;
    return { from, to: this.offset, records, warm, meta: { ...this.meta }, bad, more: false, mergedFirst: Infinity, mergedLast: -Infinity };
  }

  /**
   * Feed the whole lines of [start, end) to the parser (at most `maxBytes` of them), skipping
   * a first partial line when `skipFirst`. Returns the offset after the last whole line read.
   */
  private scan(fd: number, start: number, end: number, skipFirst: boolean, maxBytes: number): number {
    const sink = this.sink();
    const line = this.parser.line!.bind(this.parser);
    const buf = (chunk ??= Buffer.allocUnsafe(CHUNK_BYTES)); // one per thread: scan is synchronous and never re-entered
    let pos = start; // file offset of buf[0]
    let consumed = start; // offset after the last whole line handed over
    let carry: Buffer | null = null; // a line that spans chunks
    let skipping = skipFirst;
    while (pos < end && consumed - start < maxBytes) {
      const want = Math.min(CHUNK_BYTES, end - pos);
      const n = readSync(fd, buf, 0, want, pos);
      if (n === 0) break;
      const scanner = this.needles ? new NeedleScanner(this.needles, buf, n) : null;
      let s = 0;
      for (;;) {
        const nl = buf.indexOf(0x0a, s);
        if (nl < 0 || nl >= n) break;
        if (skipping) skipping = false;
        else if (carry) {
          const whole = Buffer.concat([carry, buf.subarray(s, nl)]);
          carry = null;
          if (whole.length <= MAX_LINE_BYTES && (!this.needles || new NeedleScanner(this.needles, whole, whole.length).lineMatches(0, whole.length))) line(whole.toString("utf8"), sink);
        } else if (nl > s && (!scanner || scanner.lineMatches(s, nl))) {
          line(buf.toString("utf8", s, nl), sink);
        }
        s = nl + 1;
        consumed = pos + s;
        if (consumed - start >= maxBytes) break;
      }
      if (consumed - start >= maxBytes) break;
      if (s < n) {
        // the rest of the chunk is the start of a line that continues in the next chunk
        if (!skipping) {
          const part = buf.subarray(s, n);
          const len = (carry?.length ?? 0) + part.length;
          if (len > MAX_LINE_BYTES) {
            carry = null;
            skipping = true; // an endless line: skip to its end
          } else carry = carry ? Buffer.concat([carry, part]) : Buffer.from(part);
        }
      }
      pos += n;
    }
    // JSON Lines: a last line without its newline that is a whole record counts now (the agent
    // may never end its last line), as the live view reads it; a newline arriving later is an
    // empty line
    if (carry && !skipping && pos >= end && consumed - start < maxBytes && this.parser.jsonLines) {
      const text = carry.toString("utf8");
      if (isWholeJsonObject(text)) {
        if (!this.needles || new NeedleScanner(this.needles, carry, carry.length).lineMatches(0, carry.length)) line(text, sink);
        consumed = end;
      }
    }
    return consumed;
  }
}
