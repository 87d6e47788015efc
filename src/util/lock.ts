import { spawn } from "node:child_process";
import { accessSync, closeSync, constants, fstatSync, openSync } from "node:fs";
import { createRequire } from "node:module";

/**
 * Cross-process exclusive locks with flock(2), the lock kind Python's `fcntl.flock` takes, so
 * our processes and Python OpenSRE processes serialize on the same lock file (the bus election
 * on `agents-bus.sock.lock`, and every state file). Record locks (`fcntl`/`lockf`, Linux OFD
 * locks) and lock directories are different locks that Python's `flock` does not see.
 *
 * Node has no flock of its own, and installing must not need a compiler, so two ways, both a
 * real flock(2) on the same open file description:
 * - `addon`: the optional dependency `fs-ext-extra-prebuilt` (fs-ext with prebuilt binaries in
 *   its npm tarball for Linux/macOS x64/arm64). In-process; the wait runs on libuv's thread pool.
 * - `flock` / `perl` helpers: when the addon is absent or does not load (another libc, another Node ABI, an
 *   install without optional dependencies), a short-lived child takes the lock on *our*
 *   descriptor, passed as its fd 3, and exits: util-linux `flock -x 3` (Linux), or perl's
 *   `flock` (macOS, and any system with perl). A flock belongs to the open file description, not
 *   to the process, so the lock stays held by our descriptor after the child exits, and closing
 *   it releases the lock; a holder that dies releases it too. Costs one process start per lock.
 *
 * `OPENSRE_LOCK=addon|flock|perl` forces one; the default is the first of them that works here.
 */

export type LockBackendName = "addon" | "flock" | "perl";

interface Backend {
  name: LockBackendName;
  /** Wait for an exclusive lock on `fd`. */
  lock(fd: number): Promise<void>;
  /** Release before close (closing releases anyway). */
  unlock(fd: number): Promise<void>;
  /** What takes the lock, for diagnostics: `flock(2) via fs-ext-extra-prebuilt`, `/usr/bin/flock`, … */
  describe: string;
}

interface FsExt {
  flock(fd: number, flags: "ex" | "un", cb: (err: NodeJS.ErrnoException | null) => void): void;
}

const require = createRequire(import.meta.url);

function addonBackend(): Backend | undefined {
  let fsExt: FsExt;
  try {
    fsExt = require("fs-ext-extra-prebuilt") as FsExt;
    if (typeof fsExt.flock !== "function") return undefined;
  } catch {
    return undefined; // not installed, or no binary for this platform / Node ABI
  }
  const call = (fd: number, op: "ex" | "un") => new Promise<void>((resolve, reject) => fsExt.flock(fd, op, (err) => (err ? reject(err) : resolve())));
  return { name: "addon", describe: "flock(2) via fs-ext-extra-prebuilt", lock: (fd) => call(fd, "ex"), unlock: (fd) => call(fd, "un") };
}

/**
 * Absolute paths only: the helper is found where the system installs it, never through a
 * `PATH` entry that happens to be first.
 */
const FLOCK_PATHS = ["/usr/bin/flock", "/bin/flock", "/usr/local/bin/flock", "/opt/homebrew/bin/flock"];
const PERL_PATHS = ["/usr/bin/perl", "/bin/perl", "/usr/local/bin/perl", "/opt/homebrew/bin/perl"];
/** perl: take flock(2) on inherited fd 3 (perl's `flock` is flock(2) wherever the system has it). */
const PERL_LOCK = 'open(my $f, "+<&=", 3) or die "fd 3: $!\\n"; flock($f, 2) or die "flock: $!\\n"';

function executable(paths: readonly string[]): string | undefined {
  for (const p of paths) {
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return undefined;
}

/** A helper that takes the lock on our descriptor (passed as its fd 3) and exits. */
function helperBackend(kind: "flock" | "perl"): Backend | undefined {
  const cmd = executable(kind === "flock" ? FLOCK_PATHS : PERL_PATHS);
  if (!cmd) return undefined;
  const args = kind === "flock" ? ["-x", "3"] : ["-e", PERL_LOCK];
  const lock = (fd: number) =>
    new Promise<void>((resolve, reject) => {
      const child = spawn(cmd, args, { stdio: ["ignore", "ignore", "pipe", fd] });
      let err = "";
      child.stderr!.setEncoding("utf8").on("data", (d: string) => (err = (err + d).slice(-512)));
      child.on("error", reject);
      child.on("close", (code, signal) => {
        if (code === 0) resolve();
        else reject(new Error(`${cmd} could not take the lock (${signal ?? `exit ${code}`}${err.trim() ? `: ${err.trim()}` : ""})`));
      });
    });
  return { name: kind, describe: cmd, lock, unlock: async () => undefined };
}

let chosen: Backend | undefined;

/** The way locks are taken in this process (loaded on first use). */
export function lockBackend(env: NodeJS.ProcessEnv = process.env): { name: LockBackendName; describe: string } {
  const b = backend(env);
  return { name: b.name, describe: b.describe };
}

function backend(env: NodeJS.ProcessEnv = process.env): Backend {
  if (chosen) return chosen;
  const want = env.OPENSRE_LOCK?.trim() || undefined;
  let b: Backend | undefined;
  if (want === "addon") b = addonBackend();
  else if (want === "flock" || want === "perl") b = helperBackend(want);
  else if (want === undefined) b = addonBackend() ?? helperBackend("flock") ?? helperBackend("perl");
  else throw new Error(`invalid OPENSRE_LOCK: ${want} (addon, flock or perl)`);
  if (!b) {
    throw new Error(
      want === "addon"
        ? "OPENSRE_LOCK=addon: the optional dependency fs-ext-extra-prebuilt is not installed or has no binary for this platform"
        : want
          ? `OPENSRE_LOCK=${want}: ${want} was not found in ${(want === "flock" ? FLOCK_PATHS : PERL_PATHS).join(", ")}`
          : "cannot lock files: no flock(2) here (the optional fs-ext-extra-prebuilt did not load, and neither util-linux flock nor perl was found)",
    );
  }
  chosen = b;
  return b;
}

/** Tests: forget the chosen backend so the next lock chooses again (after changing OPENSRE_LOCK). */
export function resetLockBackend(): void {
  chosen = undefined;
}

/**
 * Open (creating 0600) the lock file without following a symbolic link at its path, and
 * without blocking on a FIFO: a link planted there must not create or touch a file elsewhere.
 */
function openLockFile(lockPath: string): number {
  const flags = constants.O_RDWR | constants.O_CREAT | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0);
  let fd: number;
  try {
    fd = openSync(lockPath, flags, 0o600);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === "ELOOP" || e.code === "EMLINK") throw new Error(`refusing to use lock file ${lockPath}: it is a symbolic link (remove it)`);
    throw err;
  }
  try {
    if (!fstatSync(fd).isFile()) throw new Error(`refusing to use lock file ${lockPath}: not a regular file (remove it)`);
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  return fd;
}

/**
 * flock locks belong to an open file description, so two descriptors of one process
 * exclude each other: an in-process queue per path keeps our own callers from
 * deadlocking on themselves and from tying up thread-pool workers or helpers.
 */
const queues = new Map<string, Promise<unknown>>();

/** Run `fn` while holding an exclusive flock(2) on `lockPath` (created 0600 if missing). */
export async function withFileLock<T>(lockPath: string, fn: () => Promise<T> | T): Promise<T> {
  const prev = queues.get(lockPath) ?? Promise.resolve();
  let release!: () => void;
  const mine = new Promise<void>((r) => (release = r));
  const tail = prev.then(() => mine);
  queues.set(lockPath, tail);
  await prev.catch(() => undefined);
  try {
    const b = backend();
    const fd = openLockFile(lockPath);
    try {
      await b.lock(fd);
      try {
        return await fn();
      } finally {
        try {
          await b.unlock(fd);
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
