import { parentPort } from "node:worker_threads";
import { ADAPTERS } from "../fleet/transcripts/registry.js";
import { packSlice } from "./packed.js";
import { FileParse, type FileMeta } from "./parse.js";

/**
 * A backfill worker thread: parses the transcript files the main thread hands it, one at a
 * time, and posts each slice back packed. It never touches the database. At most
 * `ahead` slices of a file may wait un-acknowledged in the main thread (which counts them
 * in file order), so memory stays bounded however far this worker could run ahead.
 */
export interface ParseJob {
  id: number;
  provider: string;
  path: string;
  offset: number;
  meta: FileMeta;
  filter: boolean;
  sliceBytes: number;
  ahead: number;
  readAt: number;
}

export type ToWorker = { type: "job"; job: ParseJob } | { type: "ack"; id: number } | { type: "cancel"; id: number };
export type FromWorker =
  | { type: "slice"; id: number; slice: import("./packed.js").PackedSlice }
  | { type: "done"; id: number }
  | { type: "error"; id: number; message: string; code: string | null };

const port = parentPort;
if (port) {
  let unacked = 0;
  let cancelled = new Set<number>();
  let wake: (() => void) | null = null;
  const queue: ParseJob[] = [];
  let busy = false;

  const run = async (job: ParseJob): Promise<void> => {
    const adapter = ADAPTERS.find((a) => a.provider === job.provider);
    if (!adapter) throw new Error(`no adapter for ${job.provider}`);
    const parse = new FileParse(adapter, job.path, job.meta, job.offset, () => job.readAt, job.filter);
    for (;;) {
      if (cancelled.has(job.id)) return;
      while (unacked >= job.ahead) await new Promise<void>((r) => (wake = r));
      if (cancelled.has(job.id)) return;
      const slice = packSlice(parse.read(job.sliceBytes));
      unacked++;
      port.postMessage({ type: "slice", id: job.id, slice } satisfies FromWorker, [slice.records.buffer as ArrayBuffer, slice.warm.buffer as ArrayBuffer]);
      if (!slice.more) return;
    }
  };

  const next = async (): Promise<void> => {
    if (busy) return;
    busy = true;
    while (queue.length) {
      const job = queue.shift()!;
      try {
        await run(job);
        port.postMessage({ type: "done", id: job.id } satisfies FromWorker);
      } catch (err) {
        port.postMessage({ type: "error", id: job.id, message: (err as Error).message, code: (err as NodeJS.ErrnoException).code ?? null } satisfies FromWorker);
      }
      cancelled = new Set([...cancelled].filter((id) => id > job.id));
    }
    busy = false;
  };

  port.on("message", (m: ToWorker) => {
    if (m.type === "job") {
      queue.push(m.job);
      void next();
    } else if (m.type === "ack") {
      unacked = Math.max(0, unacked - 1);
      const w = wake;
      wake = null;
      w?.();
    } else cancelled.add(m.id);
  });
}
