import { closeSync, openSync } from "node:fs";
import { createRequire } from "node:module";

/**
 * Cross-process exclusive locks with flock(2), the lock kind Python's `fcntl.flock`
 * takes, so our processes and Python OpenSRE processes serialize on the same lock file.
 * Node has no flock of its own; `fs-ext` is a maintained native addon that exposes it.
 * The wait runs on libuv's thread pool, so a contended lock never blocks the event loop.
 */
interface FsExt {
  flock(fd: number, flags: "ex" | "sh" | "un" | "exnb" | "shnb", cb: (err: NodeJS.ErrnoException | null) => void): void;
  flockSync(fd: number, flags: "ex" | "sh" | "un" | "exnb" | "shnb"): void;
}

const require = createRequire(import.meta.url);
let fsExt: FsExt | undefined;
function loadFsExt(): FsExt {
  if (!fsExt) fsExt = require("fs-ext") as FsExt;
  return fsExt;
}

/**
 * flock locks belong to an open file description, so two descriptors of one process
 * exclude each other: an in-process queue per path keeps our own callers from
 * deadlocking on themselves and from tying up thread-pool workers.
 */
const queues = new Map<string, Promise<unknown>>();

function flockAsync(fd: number, flags: "ex" | "un"): Promise<void> {
  return new Promise((resolve, reject) => {
    loadFsExt().flock(fd, flags, (err) => (err ? reject(err) : resolve()));
  });
}

/** Run `fn` while holding an exclusive flock on `lockPath` (created 0600 if missing). */
export async function withFileLock<T>(lockPath: string, fn: () => Promise<T> | T): Promise<T> {
  const prev = queues.get(lockPath) ?? Promise.resolve();
  let release!: () => void;
  const mine = new Promise<void>((r) => (release = r));
  const tail = prev.then(() => mine);
  queues.set(lockPath, tail);
  await prev.catch(() => undefined);
  try {
    const fd = openSync(lockPath, "a+", 0o600);
    try {
      await flockAsync(fd, "ex");
      try {
        return await fn();
      } finally {
        try {
          await flockAsync(fd, "un");
        } catch {
          /* closing the descriptor releases it anyway */
        }
      }
    } finally {
      closeSync(fd);
    }
  } finally {
    release();
    if (queues.get(lockPath) === tail) queues.delete(lockPath);
  }
}
