import { statSync } from "node:fs";
import type { Adapter } from "../fleet/transcripts/adapter.js";
import { loadPriceCatalogue, priceFor } from "../fleet/pricing/index.js";
import { ADAPTERS } from "../fleet/transcripts/store.js";
import { defaultThreads, PARALLEL_MIN_BYTES, parallelIngest } from "./backfill.js";
import { ResponseCounter } from "./count.js";
import { FileParse, type FileMeta, type ParsedSlice } from "./parse.js";
import { TranscriptWatch } from "./watch.js";
import type { FileRow, HistoryStore } from "./store.js";

/**
 * Keeps the history store current with the transcripts on disk: each file is read from the
 * offset stored with it (in the database, so any process continues where the last one
 * stopped), in slices of at most SLICE_BYTES, each slice counted and its new offset stored
 * in one transaction. A process killed mid-way loses at most the slice it was on, and that
 * slice is read again by the next refresh: nothing is counted twice or lost.
 */

/** Model names a long-lived process looks up in the price catalogue at its first refresh (the most recently seen). */
const MAX_WARM_MODELS = 64;

/** Bytes parsed per slice (one parse, one savepoint): bounds memory. */
export const SLICE_BYTES = 16 * 1024 * 1024;
/**
 * Slices are counted in write transactions of at most this long (then committed, and the
 * event loop gets a turn): one commit per file cost a backfill a third of its time, and other
 * writers wait at most this long (they wait up to BUSY_TIMEOUT_MS, 5 s).
 */
export const BATCH_MS = 250;

/**
 * Slices counted in one write transaction (each in its own savepoint) until it has been open
 * BATCH_MS. Left open across an await only while a backfill waits for its parse threads, and
 * then committed when BATCH_MS is up: the process's other writes on this connection (process
 * samples, incidents, pruning) run in the same recorder update, after the ingest, never during it.
 */
export class WriteBatch {
  private since = 0;
  constructor(
    private readonly store: HistoryStore,
    private readonly maxMs = BATCH_MS,
  ) {}

  /** Run `fn` in the open transaction (opening one). */
  run<T>(fn: () => T): T {
    if (!this.since) {
      this.store.beginBatch();
      this.since = performance.now() || 1;
    }
    return fn();
  }

  /** Milliseconds until the open transaction is due (0 when none is open). */
  get remainingMs(): number {
    return this.since === 0 ? 0 : Math.max(0, this.maxMs - (performance.now() - this.since));
  }

  get open(): boolean {
    return this.since !== 0;
  }

  get due(): boolean {
    return this.since !== 0 && performance.now() - this.since >= this.maxMs;
  }

  commit(): void {
    if (!this.since) return;
    this.since = 0;
    this.store.commitBatch();
  }

  abort(): void {
    if (!this.since) return;
    this.since = 0;
    this.store.rollbackBatch();
  }
}

export interface IngestOptions {
  env: NodeJS.ProcessEnv;
  now?: () => number;
  /** Transcript adapters (default: every adapter the live view uses). */
  adapters?: readonly Adapter[];
  /** Skip lines that cannot carry usage (default true; tests compare both ways). */
  filter?: boolean;
  sliceBytes?: number;
  /** Threads for a large backfill (default: the machine's cores); 1 parses in-process. */
  threads?: number;
  /** New bytes from which a refresh uses the threads (default PARALLEL_MIN_BYTES). */
  parallelMinBytes?: number;
  /**
   * A long-lived process: watch the transcript folders, so a refresh stats only what was
   * written since the last (see TranscriptWatch). Close with `close()`.
   */
  watch?: boolean;
}

export interface IngestStats {
  files: number;
  /** Files read this refresh (new or grown). */
  changed: number;
  bytes: number;
  requests: number;
  ms: number;
}

export interface FileJob {
  adapter: Adapter;
  path: string;
  row: FileRow;
  size: number;
}

export class HistoryIngest {
  private readonly opts: IngestOptions;
  private readonly now: () => number;
  private readonly adapters: readonly Adapter[];
  /** Parsers kept between refreshes of a long-lived process: a grown file is read on from where it stopped. */
  private readonly parses = new Map<string, FileParse>();
  private rows: Map<string, FileRow> | null = null;
  readonly counter: ResponseCounter;
  private readonly aiderRoots = new Set<string>();
  private warnings: string[] = [];
  private readonly watch: TranscriptWatch | null;
  /** Transcripts of the last full look, with their adapter (watch mode). */
  private known = new Map<string, Adapter>();

  constructor(
    readonly store: HistoryStore,
    opts: IngestOptions,
  ) {
    this.opts = opts;
    this.now = opts.now ?? Date.now;
    this.adapters = opts.adapters ?? ADAPTERS;
    this.watch = opts.watch ? new TranscriptWatch(this.now) : null;
    this.counter = new ResponseCounter(() => this.now());
  }

  /** Aider keeps its history in the repository: add the repository of each aider process seen. */
  addAiderRoot(dir: string): void {
    if (this.aiderRoots.has(dir)) return;
    this.aiderRoots.add(dir);
    this.watch?.invalidate();
  }

  /** Stop watching the transcript folders. */
  close(): void {
    this.watch?.close();
  }

  drainWarnings(): string[] {
    const w = this.warnings;
    this.warnings = [];
    return w;
  }

  private row(path: string, provider: string): FileRow {
    this.rows ??= new Map(this.store.read(() => this.store.files()).map((r) => [r.path, r]));
    return (
      this.rows.get(path) ?? {
        path,
        provider,
        session: null,
        dev: 0,
        ino: 0,
        size: 0,
        mtime_ms: 0,
        offset: 0,
        counted: 0,
        cwd: null,
        session_id: null,
        parent_session_id: null,
        model: null,
        bad_lines: 0,
      }
    );
  }

  /**
   * Files that changed since they were last counted, in the order the live view reads them:
   * known files first (their appends), then new ones oldest modification first, so an
   * original is read before a later copy of its responses (docs/counting.md).
   */
  async changedFiles(): Promise<{ jobs: FileJob[]; files: number }> {
    const known: FileJob[] = [];
    const fresh: Array<FileJob & { mtimeMs: number }> = [];
    let files = 0;
    let lists: Array<[Adapter, readonly string[]]>;
    // the kernel queued its events when the bytes were written: let the event loop poll once
    // (two turns: one whole iteration, whatever phase this runs in) so a write that returned
    // before this refresh began is always seen
    if (this.watch) for (let i = 0; i < 2; i++) await new Promise((resolve) => setImmediate(resolve));
    if (this.watch && !this.watch.needsFullLook()) {
      // only the files written since the last look (the watch vouches for the rest)
      const by = new Map<Adapter, string[]>();
      for (const path of this.watch.take()) {
        const adapter = this.known.get(path);
        if (!adapter) continue; // not a transcript (a new one comes with a full look)
        let l = by.get(adapter);
        if (!l) by.set(adapter, (l = []));
        l.push(path);
      }
      lists = [...by];
      files = this.known.size;
    } else {
      lists = [];
      for (const adapter of this.adapters) {
        try {
          lists.push([adapter, await adapter.listFiles(this.opts.env, this.aiderRoots)]);
        } catch (err) {
          this.warnings.push(`${adapter.provider}: cannot list transcripts: ${(err as Error).message}`);
        }
      }
      if (this.watch) {
        this.known = new Map(lists.flatMap(([a, paths]) => paths.map((p) => [p, a] as const)));
        this.watch.watchAll([...this.known.keys()]);
      }
      files = lists.reduce((n, [, paths]) => n + paths.length, 0);
    }
    for (const [adapter, paths] of lists) {
      for (const path of paths) {
        let st;
        try {
          st = statSync(path);
        } catch {
          continue; // gone since listed
        }
        if (!st.isFile()) continue;
        const row = this.row(path, adapter.provider);
        if (row.size === st.size && row.mtime_ms === st.mtimeMs && row.ino === st.ino && row.dev === st.dev) continue;
        if (row.offset > 0 || row.ino !== 0) known.push({ adapter, path, row, size: st.size });
        else fresh.push({ adapter, path, row, size: st.size, mtimeMs: st.mtimeMs });
      }
    }
    fresh.sort((a, b) => a.mtimeMs - b.mtimeMs);
    return { jobs: [...known, ...fresh.map(({ mtimeMs: _, ...j }) => j)], files };
  }

  /**
   * Read every changed transcript and count what it added. A long-lived process (watch mode)
   * also loads the price catalogue at its first refresh, and looks up the models counted so far,
   * so the first response it counts later (an incremental refresh, under 50 ms) does not wait
   * ~150 ms for them.
   */
  async refresh(): Promise<IngestStats> {
    const stats = await this.refreshOnce();
    if (this.watch && !this.pricesLoaded) {
      this.pricesLoaded = true;
      loadPriceCatalogue();
      // resolving a model id in the catalogue costs a few ms the first time: the models counted so far, now
      for (const model of this.store.modelNames(MAX_WARM_MODELS)) priceFor(model);
    }
    return stats;
  }

  private pricesLoaded = false;

  private async refreshOnce(): Promise<IngestStats> {
    const t0 = performance.now();
    const { jobs, files } = await this.changedFiles();
    let bytes = 0;
    let requests = 0;
    const pendingBytes = jobs.reduce((n, j) => n + Math.max(0, j.size - j.row.offset), 0);
    const threads = this.opts.threads ?? defaultThreads();
    const batch = new WriteBatch(this.store);
    try {
      if (threads > 1 && pendingBytes >= (this.opts.parallelMinBytes ?? PARALLEL_MIN_BYTES)) {
        const r = await parallelIngest(this, jobs, threads, batch, (w) => this.warnings.push(w));
        batch.commit();
        return { files, changed: jobs.length, bytes: r.bytes, requests: r.requests, ms: performance.now() - t0 };
      }
      for (const job of jobs) {
        const r = await this.ingestCaught(job, batch, (w) => this.warnings.push(w));
        bytes += r.bytes;
        requests += r.requests;
      }
      batch.commit();
    } catch (err) {
      this.abort(batch);
      throw err;
    }
    return { files, changed: jobs.length, bytes, requests, ms: performance.now() - t0 };
  }

  /** A write transaction failed: what this process learnt since it opened was never stored. */
  abort(batch: WriteBatch): void {
    batch.abort();
    this.counter.reset();
    this.parses.clear();
    this.rows = null;
  }

  /** ingestOne, where a file that cannot be read is a warning (a database failure is thrown). */
  async ingestCaught(job: FileJob, batch: WriteBatch, onWarning: (w: string) => void): Promise<{ bytes: number; requests: number }> {
    try {
      return await this.ingestOne(job, batch);
    } catch (err) {
      if ((err as Error).name === "HistoryError") throw err;
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") onWarning(`${job.path}: ${(err as Error).message}`);
      return { bytes: 0, requests: 0 };
    }
  }

  /** Start a file over (truncated or replaced): what it counted stays history; keyed responses are not counted twice. */
  private restart(job: FileJob, why: string): FileRow {
    this.warnings.push(`${job.path}: ${why}; counting it again from the start (responses already counted are not counted twice)`);
    const row: FileRow = { ...job.row, session: null, offset: 0, size: 0, mtime_ms: 0, ino: 0, dev: 0 };
    this.store.write(() => this.store.putFile(row));
    this.parses.delete(job.path);
    return row;
  }

  /** The parser to continue `row` with: the one kept in memory if it stopped at the stored offset, else a new one. */
  parseFor(job: FileJob, row: FileRow): FileParse {
    const kept = this.parses.get(job.path);
    if (kept && kept.offset === row.offset) return kept;
    const meta: FileMeta = { cwd: row.cwd, sessionId: row.session_id, parentSessionId: row.parent_session_id, model: row.model };
    const p = new FileParse(job.adapter, job.path, meta, row.offset, this.now, this.opts.filter ?? true);
    this.parses.set(job.path, p);
    return p;
  }

  /** Check a file's identity against its row; restart it when truncated or replaced. */
  prepare(job: FileJob, st: { ino: number; dev: number; size: number }, whole: boolean): FileRow {
    let row = job.row;
    if (row.offset > 0 && row.ino !== 0 && (row.ino !== st.ino || row.dev !== st.dev)) row = this.restart(job, "replaced");
    else if (row.offset > 0 && !whole && st.size < row.offset) row = this.restart(job, "truncated");
    return row;
  }

  /** Count one parsed slice (in `batch`'s transaction, as a savepoint). `ok` false when another process got there first. */
  commit(job: FileJob, row: FileRow, slice: ParsedSlice, batch: WriteBatch): { ok: boolean; row: FileRow; requests: number } {
    let result;
    try {
      result = batch.run(() =>
        this.store.write(() =>
          this.counter.apply(this.store, row, slice, () =>
            this.store.sessionId({
              provider: job.adapter.provider,
              key: slice.meta.sessionId ?? job.path,
              sessionId: slice.meta.sessionId,
              parentSessionId: slice.meta.parentSessionId,
              cwd: slice.meta.cwd,
            }),
          ),
        ),
      );
    } catch (err) {
      // this slice's savepoint was rolled back: what the counter learnt from it was never stored
      if ((err as Error).name === "HistoryError") this.abort(batch);
      else {
        this.counter.reset();
        this.parses.delete(job.path);
      }
      throw err;
    }
    if (!result) {
      // another process counted this file meanwhile: continue from what it stored
      const fresh = this.store.read(() => this.store.file(job.path));
      this.parses.delete(job.path);
      if (fresh) this.rows?.set(job.path, fresh);
      return { ok: false, row: fresh ?? row, requests: 0 };
    }
    const next = result.row;
    this.rows?.set(job.path, next);
    return { ok: true, row: next, requests: result.requests };
  }

  /**
   * Read and count one changed file in-process, slice by slice, in `batch`'s transactions;
   * the transaction is committed and the event loop gets a turn when it has been open long enough.
   */
  async ingestOne(job: FileJob, batch: WriteBatch): Promise<{ bytes: number; requests: number }> {
    const st = statSync(job.path);
    let parse = this.parseFor(job, job.row);
    let row = batch.run(() => this.prepare(job, st, parse.whole));
    if (row !== job.row) parse = this.parseFor(job, row);
    let bytes = 0;
    let requests = 0;
    for (let attempts = 0; attempts < 3; ) {
      const slice = parse.read(this.opts.sliceBytes ?? SLICE_BYTES);
      bytes += parse.whole ? slice.size : slice.to - slice.from;
      const r = this.commit(job, row, slice, batch);
      row = r.row;
      if (!r.ok) {
        attempts++;
        parse = this.parseFor({ ...job, row }, row);
        continue;
      }
      requests += r.requests;
      if (batch.due) {
        // keep the event loop responsive (and other writers' waits short) between slices
        batch.commit();
        await new Promise((resolve) => setImmediate(resolve));
      }
      if (!slice.more) break;
    }
    return { bytes, requests };
  }
}
