import { statSync } from "node:fs";
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { loadPriceCatalogue } from "../fleet/pricing/index.js";
import type { FileJob, HistoryIngest, WriteBatch } from "./ingest.js";
import { unpackSlice, type PackedSlice } from "./packed.js";
import type { FromWorker, ParseJob, ToWorker } from "./worker.js";

/**
 * Cold backfill on every core: worker threads parse transcripts (read, filter, the adapter's
 * parser) while the main thread counts their slices into the store, in the order the live
 * view reads the files (so a response copied between files is counted for the same session
 * the live view counts it for). Bounded: each worker runs at most SLICES_AHEAD slices ahead
 * of what the main thread has counted, and at most JOBS_AHEAD files are handed out ahead.
 */

/** Below this many new bytes a refresh parses in-process: starting threads costs more than it saves. */
export const PARALLEL_MIN_BYTES = 32 * 1024 * 1024;
/** Slices a worker may have waiting to be counted. */
export const SLICES_AHEAD = 3;
/** Files handed to workers beyond the one being counted, per worker. */
export const JOBS_AHEAD = 4;
/** Slice size for workers: smaller than in-process slices so counting and parsing overlap finely. */
export const WORKER_SLICE_BYTES = 8 * 1024 * 1024;

export function defaultThreads(): number {
  return Math.max(1, availableParallelism());
}

interface Pending {
  job: FileJob;
  remote: boolean;
  slices: PackedSlice[];
  done: boolean;
  error: { message: string; code: string | null } | null;
  worker: number;
  cancelled: boolean;
}

export async function parallelIngest(ingest: HistoryIngest, jobs: readonly FileJob[], threads: number, batch: WriteBatch, onWarning: (w: string) => void): Promise<{ bytes: number; requests: number }> {
  const url = new URL("./worker.js", import.meta.url);
  const workers = Array.from({ length: Math.max(1, threads) }, () => new Worker(url));
  const load = workers.map(() => 0);
  const pending: Pending[] = jobs.map((job) => ({ job, remote: !job.adapter.newParser(job.path).whole, slices: [], done: false, error: null, worker: -1, cancelled: false }));
  let wake: (() => void) | null = null;
  const notify = () => {
    const w = wake;
    wake = null;
    w?.();
  };
  let failure: Error | null = null;
  workers.forEach((w, wi) => {
    w.on("message", (m: FromWorker) => {
      const p = pending[m.id]!;
      if (m.type === "slice") p.slices.push(m.slice);
      else if (m.type === "done") {
        p.done = true;
        load[wi]!--;
      } else {
        p.error = { message: m.message, code: m.code };
        p.done = true;
        load[wi]!--;
      }
      notify();
    });
    w.on("error", (err) => {
      failure = err;
      notify();
    });
  });
  let dispatched = 0;
  const dispatch = (head: number) => {
    while (dispatched < pending.length && dispatched - head < workers.length * JOBS_AHEAD) {
      const p = pending[dispatched]!;
      const id = dispatched++;
      if (!p.remote) continue;
      // identity check (truncated or replaced) before the file is handed out
      try {
        const row = ingest.prepare(p.job, statSync(p.job.path), false);
        if (row !== p.job.row) p.job = { ...p.job, row };
      } catch {
        p.cancelled = true;
        p.done = true;
        continue;
      }
      const row = p.job.row;
      const wi = load.indexOf(Math.min(...load));
      load[wi]!++;
      p.worker = wi;
      const job: ParseJob = {
        id,
        provider: p.job.adapter.provider,
        path: p.job.path,
        offset: row.offset,
        meta: { cwd: row.cwd, sessionId: row.session_id, parentSessionId: row.parent_session_id, model: row.model },
        filter: true,
        sliceBytes: WORKER_SLICE_BYTES,
        ahead: SLICES_AHEAD,
        readAt: Date.now(),
      };
      workers[wi]!.postMessage({ type: "job", job } satisfies ToWorker);
    }
  };
  let bytes = 0;
  let requests = 0;
  try {
    // the first files go out while the threads start; the prices load meanwhile, not at the first slice counted
    dispatch(0);
    loadPriceCatalogue();
    for (let head = 0; head < pending.length; head++) {
      const p = pending[head]!;
      dispatch(head);
      if (!p.remote) {
        const r = await ingest.ingestCaught(p.job, batch, onWarning);
        bytes += r.bytes;
        requests += r.requests;
        continue;
      }
      let row = p.job.row;
      for (;;) {
        if (failure) throw failure;
        const packed = p.slices.shift();
        if (packed) {
          workers[p.worker]!.postMessage({ type: "ack", id: head } satisfies ToWorker);
          if (p.cancelled) continue;
          const slice = unpackSlice(packed);
          const r = ingest.commit(p.job, row, slice, batch);
          if (batch.due) batch.commit();
          if (!r.ok) {
            // another process counted this file meanwhile: leave it to the next refresh
            p.cancelled = true;
            workers[p.worker]!.postMessage({ type: "cancel", id: head } satisfies ToWorker);
            continue;
          }
          row = r.row;
          bytes += slice.to - slice.from;
          requests += r.requests;
          continue;
        }
        if (p.done) break;
        // wait for the workers; the transaction stays open (one commit per BATCH_MS, not per file) and is committed when due
        let timer: NodeJS.Timeout | undefined;
        await new Promise<void>((r) => {
          wake = r;
          if (batch.open) timer = setTimeout(notify, batch.remainingMs);
        });
        clearTimeout(timer);
        if (batch.due) batch.commit();
      }
      if (p.error && p.error.code !== "ENOENT") onWarning(`${p.job.path}: ${p.error.message}`);
    }
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
  return { bytes, requests };
}
