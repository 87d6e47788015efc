import { stat } from "node:fs/promises";
import type { Adapter } from "../fleet/transcripts/adapter.js";
import { ADAPTERS } from "../fleet/transcripts/store.js";
import { defaultThreads, PARALLEL_MIN_BYTES, parallelIngest } from "./backfill.js";
import { ResponseCounter } from "./count.js";
import { FileParse, type FileMeta, type ParsedSlice } from "./parse.js";
import type { FileRow, HistoryStore } from "./store.js";

/**
 * Keeps the history store current with the transcripts on disk: each file is read from the
 * offset stored with it (in the database, so any process continues where the last one
 * stopped), in slices of at most SLICE_BYTES, each slice counted and its new offset stored
 * in one transaction. A process killed mid-way loses at most the slice it was on, and that
 * slice is read again by the next refresh: nothing is counted twice or lost.
 */

/** Bytes parsed per write transaction: bounds memory and how long other writers wait. */
export const SLICE_BYTES = 16 * 1024 * 1024;

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
  readonly counter = new ResponseCounter();
  private readonly aiderRoots = new Set<string>();
  private warnings: string[] = [];

  constructor(
    readonly store: HistoryStore,
    opts: IngestOptions,
  ) {
    this.opts = opts;
    this.now = opts.now ?? Date.now;
    this.adapters = opts.adapters ?? ADAPTERS;
  }

  /** Aider keeps its history in the repository: add the repository of each aider process seen. */
  addAiderRoot(dir: string): void {
    this.aiderRoots.add(dir);
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
    for (const adapter of this.adapters) {
      let paths: string[];
      try {
        paths = await adapter.listFiles(this.opts.env, this.aiderRoots);
      } catch (err) {
        this.warnings.push(`${adapter.provider}: cannot list transcripts: ${(err as Error).message}`);
        continue;
      }
      for (const path of paths) {
        files++;
        let st;
        try {
          st = await stat(path);
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

  /** Read every changed transcript and count what it added. */
  async refresh(): Promise<IngestStats> {
    const t0 = performance.now();
    const { jobs, files } = await this.changedFiles();
    let bytes = 0;
    let requests = 0;
    const pendingBytes = jobs.reduce((n, j) => n + Math.max(0, j.size - j.row.offset), 0);
    const threads = this.opts.threads ?? defaultThreads();
    if (threads > 1 && pendingBytes >= (this.opts.parallelMinBytes ?? PARALLEL_MIN_BYTES)) {
      const r = await parallelIngest(this, jobs, threads, (w) => this.warnings.push(w));
      return { files, changed: jobs.length, bytes: r.bytes, requests: r.requests, ms: performance.now() - t0 };
    }
    for (const job of jobs) {
      try {
        const r = await this.ingestOne(job);
        bytes += r.bytes;
        requests += r.requests;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === "ENOENT") continue;
        if ((err as Error).name === "HistoryError") throw err;
        this.warnings.push(`${job.path}: ${(err as Error).message}`);
      }
    }
    return { files, changed: jobs.length, bytes, requests, ms: performance.now() - t0 };
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

  /** Count one parsed slice in one transaction. `ok` false when another process got there first. */
  commit(job: FileJob, row: FileRow, slice: ParsedSlice): { ok: boolean; row: FileRow; requests: number } {
    let result;
    try {
      result = this.store.write(() =>
        this.counter.apply(this.store, row, slice, () =>
          this.store.sessionId({
            provider: job.adapter.provider,
            key: slice.meta.sessionId ?? job.path,
            sessionId: slice.meta.sessionId,
            parentSessionId: slice.meta.parentSessionId,
            cwd: slice.meta.cwd,
          }),
        ),
      );
    } catch (err) {
      // rolled back: what the counter learnt from this slice was never stored
      this.counter.reset();
      this.parses.delete(job.path);
      throw err;
    }
    if (!result) {
      // another process counted this file meanwhile: continue from what it stored
      const fresh = this.store.read(() => this.store.file(job.path));
      this.parses.delete(job.path);
      if (fresh) this.rows?.set(job.path, fresh);
      return { ok: false, row: fresh ?? row, requests: 0 };
    }
    const next = this.store.read(() => this.store.file(job.path))!;
    this.rows?.set(job.path, next);
    return { ok: true, row: next, requests: result.requests };
  }

  /** Read and count one changed file in-process, slice by slice. */
  async ingestOne(job: FileJob): Promise<{ bytes: number; requests: number }> {
    const st = await stat(job.path);
    let parse = this.parseFor(job, job.row);
    let row = this.prepare(job, st, parse.whole);
    if (row !== job.row) parse = this.parseFor(job, row);
    let bytes = 0;
    let requests = 0;
    for (let attempts = 0; attempts < 3; ) {
      const slice = parse.read(this.opts.sliceBytes ?? SLICE_BYTES);
      bytes += parse.whole ? slice.size : slice.to - slice.from;
      const r = this.commit(job, row, slice);
      row = r.row;
      if (!r.ok) {
        attempts++;
        parse = this.parseFor({ ...job, row }, row);
        continue;
      }
      requests += r.requests;
      if (!slice.more) break;
      await new Promise((resolve) => setImmediate(resolve)); // keep the event loop responsive between slices
    }
    return { bytes, requests };
  }
}
