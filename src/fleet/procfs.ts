import { closeSync, openSync, readdirSync, readFileSync, readlinkSync, readSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { endianness } from "node:os";

/**
 * The single place that probes the operating system's process table (Linux `/proc`,
 * macOS `ps`). Everything else asks here.
 */

let bootTimeMs: number | undefined;
let clockTicks: number | undefined;

/** Boot time in ms since the epoch (Linux `btime` in /proc/stat). */
export function linuxBootTimeMs(): number {
  if (bootTimeMs === undefined) {
    const stat = readFileSync("/proc/stat", "utf8");
    const m = /^btime (\d+)$/m.exec(stat);
    if (!m) throw new Error("/proc/stat has no btime line");
    bootTimeMs = Number(m[1]) * 1000;
  }
  return bootTimeMs;
}

/**
 * Boot time of a simulated process table (tests: `OPENSRE_PROC_ROOT`): the `btime` of its own
 * `stat` file when it has one (a view of the real /proc links it), else 0, so start times are
 * the raw tick counts the simulation wrote.
 */
function procRootBootTimeMs(root: string): number {
  try {
    const m = /^btime (\d+)$/m.exec(readFileSync(`${root}/stat`, "utf8"));
    return m ? Number(m[1]) * 1000 : 0;
  } catch {
    return 0;
  }
}

/** `AT_CLKTCK` in the ELF auxiliary vector: the kernel's USER_HZ, as `sysconf(_SC_CLK_TCK)` reads it. */
const AT_CLKTCK = 17;

/**
 * USER_HZ: the unit of /proc times. 100 on every mainstream Linux; read once from the
 * process's auxiliary vector (`/proc/self/auxv`, where libc's `sysconf` reads it), not by
 * running `getconf`: a child process cost every command ~30–100 ms at its first look at a process.
 */
export function linuxClockTicks(): number {
  clockTicks ??= auxvClockTicks() ?? 100;
  return clockTicks;
}

/** AT_CLKTCK from /proc/self/auxv: (type, value) pairs of native words, ended by type 0. */
export function auxvClockTicks(auxv?: Buffer, wordBytes = ["arm", "ia32", "mips", "mipsel", "ppc", "s390"].includes(process.arch) ? 4 : 8): number | undefined {
  let buf = auxv;
  try {
    buf ??= readFileSync("/proc/self/auxv");
  } catch {
    return undefined;
  }
  const le = endianness() === "LE";
  const word = (at: number) =>
    wordBytes === 8 ? Number(le ? buf.readBigUInt64LE(at) : buf.readBigUInt64BE(at)) : le ? buf.readUInt32LE(at) : buf.readUInt32BE(at);
  for (let at = 0; at + 2 * wordBytes <= buf.length; at += 2 * wordBytes) {
    const type = word(at);
    if (type === 0) break;
    if (type === AT_CLKTCK) {
      const hz = word(at + wordBytes);
      return hz > 0 && hz <= 10_000 ? hz : undefined;
    }
  }
  return undefined;
}

/** Fields of /proc/<pid>/stat after the `(comm)` field, which may itself contain spaces and parentheses. */
export function parseProcStat(text: string): { comm: string; fields: string[] } | undefined {
  const open = text.indexOf("(");
  const close = text.lastIndexOf(")");
  if (open < 0 || close < open) return undefined;
  return { comm: text.slice(open + 1, close), fields: text.slice(close + 2).trim().split(/\s+/) };
}

/**
 * Start time of a process in ms since the epoch, or undefined if it does not exist.
 * Linux: field 22 of /proc/<pid>/stat (clock ticks since boot) + boot time; macOS: `ps -o lstart`.
 */
export function processStartTime(pid: number): number | undefined {
  if (process.platform === "linux") {
    try {
      const parsed = parseProcStat(readFileSync(`/proc/${pid}/stat`, "utf8"));
      // fields[0] is field 3 (state); starttime is field 22 → index 19
      const ticks = parsed ? Number(parsed.fields[19]) : NaN;
      if (!Number.isFinite(ticks)) return undefined;
      return linuxBootTimeMs() + Math.round((ticks * 1000) / linuxClockTicks());
    } catch {
      return undefined;
    }
  }
  if (process.platform === "darwin") {
    try {
      const out = execFileSync("ps", ["-o", "lstart=", "-p", String(pid)], { encoding: "utf8" }).trim();
      const t = Date.parse(out);
      return Number.isFinite(t) ? t : undefined;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/**
 * Tolerance when comparing start times: macOS reports whole seconds; Linux counts clock ticks
 * (10 ms at the usual 100 Hz) from a boot time read once, so one tick absorbs the rounding. A
 * whole second on Linux would take a pid reused a few hundred milliseconds later for the
 * process that was confirmed, and `kill` would signal the newcomer.
 */
export const START_TIME_TOLERANCE_MS = process.platform === "darwin" ? 1000 : 10;

/**
 * Tolerance when comparing a start time with the wall clock (a file's mtime): Linux's boot time
 * (`btime`) is in whole seconds, so an absolute start time may be up to a second off.
 */
export const WALL_CLOCK_TOLERANCE_MS = 1000;

/** True when `pid` is alive and is still the process that started at `startTime` (null = unknown, accept). */
export function isSameProcess(pid: number, startTime: number | null): boolean {
  const now = processStartTime(pid);
  if (now === undefined) {
    try {
      process.kill(pid, 0);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EPERM") return false;
    }
    return startTime === null || (process.platform !== "linux" && process.platform !== "darwin");
  }
  return startTime === null || Math.abs(now - startTime) <= START_TIME_TOLERANCE_MS;
}

/** One process as the fleet needs it, from one pass over the process table. */
export interface ProcInfo {
  pid: number;
  ppid: number;
  uid: number;
  comm: string;
  argv: string[];
  /** ms since epoch. */
  startTime: number;
  /** utime + stime in clock ticks (Linux) or ms (macOS: see `cpuUnitMs`). */
  cpuTicks: number;
  rssBytes: number;
}

export interface ProcessTable {
  procs: ProcInfo[];
  /** When the table was read, ms since epoch. */
  at: number;
  /** Milliseconds per `cpuTicks` unit. */
  cpuUnitMs: number;
}

/** Not supported: the fleet needs a process table. */
export class UnsupportedPlatformError extends Error {}

const PAGE_SIZE = 4096;

/**
 * Read the whole process table in one pass: Linux `/proc/<pid>/{stat,status,cmdline}`
 * (vanished and unreadable pids are skipped silently); macOS one `ps` call.
 */
/**
 * What stays the same for the life of a process image, kept between reads of the table by a
 * caller that reads it again and again (the live view): owner and command line, keyed by pid,
 * start time and `comm`. `comm` changes on execve and on a title change (prctl, Node's
 * `process.title`), which is when the command line is read again. Entries of pids that are
 * gone are dropped at each read, so the cache never holds more than the table.
 *
 * With `focus` set (the pids of the agents' process trees at the last refresh), a read looks
 * at `/proc/<pid>/stat` only for those, for pids it has not seen, and for a rolling share of the
 * others (one in `SWEEP_ROUNDS`, by pid); every other process keeps its last entry. What a live
 * refresh needs of a process outside the fleet is only whether it became an agent (execve) or
 * was replaced (a reused pid), which the sweep finds within `SWEEP_ROUNDS` refreshes; a new
 * process is read at once. `focus: null` (the default, and every first read) reads every process.
 */
export interface ProcCache {
  entries: Map<number, { start: string; comm: string; uid: number; argv: string[]; info?: ProcInfo }>;
  focus: ReadonlySet<number> | null;
  /** Counts reads, to pick the sweep's share. */
  round: number;
}

/**
 * A process outside the fleet is looked at again every this many refreshes (10 s at the live
 * view's 2 s): each look is an open/read/close of a kernel-generated file, most of a refresh's
 * cost with hundreds of processes, and a process that exec'd into an agent shows up this late.
 */
export const SWEEP_ROUNDS = 5;

export function newProcCache(): ProcCache {
  return { entries: new Map(), focus: null, round: 0 };
}

/** One buffer for every `/proc/<pid>/stat` read: the file is a few hundred bytes (comm ≤ 64). */
const statBuf = Buffer.alloc(4096);

function readStat(path: string): string {
  const fd = openSync(path, "r");
  try {
    const n = readSync(fd, statBuf, 0, statBuf.length, 0);
    if (n < statBuf.length) return statBuf.toString("utf8", 0, n);
  } finally {
    closeSync(fd);
  }
  return readFileSync(path, "utf8");
}

export function readProcessTable(opts: { procRoot?: string; platform?: NodeJS.Platform; cache?: ProcCache } = {}): ProcessTable {
  const platform = opts.platform ?? process.platform;
  if (platform === "darwin" && !opts.procRoot) return readPs();
  if (platform !== "linux" && !opts.procRoot) throw new UnsupportedPlatformError(`the fleet view is not supported on ${platform === "win32" ? "Windows" : platform}`);
  const root = opts.procRoot ?? "/proc";
  const at = Date.now();
  const boot = opts.procRoot ? procRootBootTimeMs(root) : linuxBootTimeMs();
  const hz = linuxClockTicks();
  const procs: ProcInfo[] = [];
  const cache = opts.cache;
  const seen = cache ? new Set<number>() : null;
  const focus = cache?.focus ?? null;
  const round = cache ? cache.round++ % SWEEP_ROUNDS : 0;
  let names: string[];
  try {
    names = readdirSync(root);
  } catch (err) {
    throw new Error(`cannot read the process table at ${root}: ${(err as Error).message}`);
  }
  for (const name of names) {
    if (!/^[0-9]+$/.test(name)) continue;
    const pid = Number(name);
    const known = cache?.entries.get(pid);
    if (focus && known?.info && !focus.has(pid) && pid % SWEEP_ROUNDS !== round) {
      // outside the fleet and not its turn in the sweep: as last seen
      seen!.add(pid);
      procs.push(known.info);
      continue;
    }
    try {
      const parsed = parseProcStat(readStat(`${root}/${name}/stat`));
      if (!parsed) continue;
      const f = parsed.fields;
      let uid: number;
      let argv: string[];
      if (known && known.start === f[19] && known.comm === parsed.comm) {
        uid = known.uid;
        argv = known.argv;
      } else {
        const status = readFileSync(`${root}/${name}/status`, "utf8");
        uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1] ?? -1);
        const cmd = readFileSync(`${root}/${name}/cmdline`, "utf8");
        argv = cmd.split("\0");
        if (argv[argv.length - 1] === "") argv.pop();
      }
      const info: ProcInfo = {
        pid,
        ppid: Number(f[1]),
        uid,
        comm: parsed.comm,
        argv: argv.length ? argv : [parsed.comm],
        startTime: boot + Math.round((Number(f[19]) * 1000) / hz),
        cpuTicks: Number(f[11]) + Number(f[12]),
        rssBytes: Number(f[21]) * PAGE_SIZE,
      };
      if (cache) {
        cache.entries.set(pid, { start: f[19] ?? "", comm: parsed.comm, uid, argv, info });
        seen!.add(pid);
      }
      procs.push(info);
    } catch {
      // the process exited between readdir and read, or is not ours to read
    }
  }
  if (cache && seen) for (const pid of cache.entries.keys()) if (!seen.has(pid)) cache.entries.delete(pid);
  return { procs, at, cpuUnitMs: 1000 / hz };
}

function readPs(): ProcessTable {
  const at = Date.now();
  const out = execFileSync("ps", ["-axww", "-o", "pid=,ppid=,uid=,rss=,time=,lstart=,command="], { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  const procs: ProcInfo[] = [];
  for (const line of out.split("\n")) {
    const m = /^\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+([\d:.-]+)\s+(\w{3} \w{3}\s+\d+ [\d:]+ \d{4})\s+(.*)$/.exec(line);
    if (!m) continue;
    const [mm, ss] = m[5]!.split(":").slice(-2).map(Number);
    const hh = m[5]!.split(":").length > 2 ? Number(m[5]!.split(":")[0]) : 0;
    const argv = m[7]!.split(" ");
    procs.push({
      pid: Number(m[1]),
      ppid: Number(m[2]),
      uid: Number(m[3]),
      comm: argv[0]!.split("/").pop()!,
      argv,
      startTime: Date.parse(m[6]!),
      cpuTicks: Math.round(((hh ?? 0) * 3600 + (mm ?? 0) * 60 + (ss ?? 0)) * 1000),
      rssBytes: Number(m[4]) * 1024,
    });
  }
  return { procs, at, cpuUnitMs: 1 };
}

/** PF_KTHREAD in the flags of /proc/<pid>/stat (field 9). */
const PF_KTHREAD = 0x00200000;

/** A kernel thread (no user space to stop; signalling one is never what a user means). Linux; false elsewhere. */
export function isKernelThread(pid: number, procRoot = "/proc"): boolean {
  if (pid === 2) return true; // kthreadd
  try {
    const parsed = parseProcStat(readFileSync(`${procRoot}/${pid}/stat`, "utf8"));
    if (!parsed) return false;
    // fields[0] is field 3 (state): ppid is field 4, flags field 9
    if (Number(parsed.fields[1]) === 2) return true;
    return (Number(parsed.fields[6]) & PF_KTHREAD) !== 0;
  } catch {
    return false;
  }
}

/** Working directory of a process (null when gone or not ours). */
export function processCwd(pid: number, procRoot = "/proc"): string | null {
  try {
    return readlinkSync(`${procRoot}/${pid}/cwd`);
  } catch {
    return null;
  }
}

/** Most descriptors we look at per process: an agent with more open files is not holding its transcript among them in any useful way. */
export const MAX_FDS_SCANNED = 4096;

/** Absolute paths of regular files a process holds open (Linux; empty elsewhere). */
export function processOpenFiles(pid: number, procRoot = "/proc"): string[] {
  return openFiles(pid, procRoot, false);
}

/** Absolute paths behind the process's descriptors; with `forWrite`, only those opened O_WRONLY or O_RDWR. */
function openFiles(pid: number, procRoot: string, forWrite: boolean): string[] {
  const out: string[] = [];
  let fds: string[];
  try {
    fds = readdirSync(`${procRoot}/${pid}/fd`);
  } catch {
    return out;
  }
  for (const fd of fds.slice(0, MAX_FDS_SCANNED)) {
    try {
      const target = readlinkSync(`${procRoot}/${pid}/fd/${fd}`);
      if (!target.startsWith("/")) continue;
      if (forWrite) {
        const m = /^flags:\s*([0-7]+)/m.exec(readFileSync(`${procRoot}/${pid}/fdinfo/${fd}`, "utf8"));
        if (!m || (parseInt(m[1]!, 8) & 3) === 0) continue;
      }
      out.push(target.replace(/ \(deleted\)$/, ""));
    } catch {
      /* closed meanwhile */
    }
  }
  return out;
}

/**
 * Regular files the process holds open for writing (O_WRONLY or O_RDWR, from
 * `/proc/<pid>/fdinfo`): the evidence that a change on disk is this process's write.
 */
export function processFilesOpenForWrite(pid: number, procRoot = "/proc"): string[] {
  return openFiles(pid, procRoot, true);
}

/**
 * The only variables read from another process's environment: where each agent keeps its
 * records, and HOME (the default of them all). Never a token, key or anything else.
 */
export const LOCATION_VARIABLES = ["HOME", "CLAUDE_CONFIG_DIR", "CODEX_HOME", "GEMINI_DIR", "COPILOT_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME"] as const;
/** /proc/<pid>/environ read at most this far: the location variables of a sane environment are within it. */
export const MAX_ENVIRON_BYTES = 256 * 1024;

/** One buffer for every environ read (the reads are synchronous, the decoded values are copies). */
let environBuf: Buffer | undefined;

/**
 * Location variables already read, by process (pid and start time): a process's environment
 * block is fixed at exec, so a live refresh reads each agent's once, not every 2 s. Bounded: an
 * entry per agent process seen, cleared whole when it passes this many (agents come and go).
 */
export const MAX_ENVIRON_CACHE = 1024;
const environCache = new Map<string, Record<string, string>>();

/**
 * An agent's own location variables, from `/proc/<pid>/environ` (Linux; null elsewhere, or
 * when the process is gone or not ours). Only `LOCATION_VARIABLES` are decoded: every other
 * entry is skipped as raw bytes and never becomes a string. With `startTime` (the process's,
 * ms since epoch) the result is kept for that process's life.
 */
export function processLocationEnv(pid: number, procRoot = "/proc", startTime?: number | null): Record<string, string> | null {
  const key = startTime != null ? `${procRoot}\0${pid}\0${startTime}` : null;
  const known = key !== null ? environCache.get(key) : undefined;
  if (known) return { ...known };
  const found = readLocationEnv(pid, procRoot);
  if (found && key !== null) {
    if (environCache.size >= MAX_ENVIRON_CACHE) environCache.clear();
    environCache.set(key, found);
    return { ...found };
  }
  return found;
}

function readLocationEnv(pid: number, procRoot: string): Record<string, string> | null {
  let buf: Buffer;
  try {
    const fd = openSync(`${procRoot}/${pid}/environ`, "r");
    try {
      buf = environBuf ??= Buffer.allocUnsafe(MAX_ENVIRON_BYTES);
      let n = 0;
      for (;;) {
        const r = readSync(fd, buf, n, buf.length - n, null);
        if (r === 0 || (n += r) >= buf.length) break;
      }
      buf = buf.subarray(0, n);
    } finally {
      closeSync(fd);
    }
  } catch {
    return null;
  }
  const out: Record<string, string> = {};
  const prefixes = LOCATION_VARIABLES.map((k) => Buffer.from(k + "="));
  for (let start = 0; start < buf.length; ) {
    let end = buf.indexOf(0, start);
    if (end < 0) end = buf.length;
    for (let i = 0; i < prefixes.length; i++) {
      const p = prefixes[i]!;
      if (end - start >= p.length && buf.compare(p, 0, p.length, start, start + p.length) === 0) {
        out[LOCATION_VARIABLES[i]!] = buf.toString("utf8", start + p.length, end);
        break;
      }
    }
    start = end + 1;
  }
  return out;
}

/**
 * Connections accepted on the Unix socket bound at `path` (Linux `/proc/net/unix`: the
 * server side of each connection carries the bound path and state 03, connected); null
 * where it cannot be known (no /proc, another platform). The live view's count of bus peers
 * when the broker runs in another process.
 */
export function unixSocketConnections(path: string, procRoot = "/proc"): number | null {
  let text: string;
  try {
    text = readFileSync(`${procRoot}/net/unix`, "latin1");
  } catch {
    return null;
  }
  let n = 0;
  for (let at = text.indexOf(path); at >= 0; at = text.indexOf(path, at + path.length)) {
    const start = text.lastIndexOf("\n", at) + 1;
    const end = text.indexOf("\n", at);
    // Num RefCount Protocol Flags Type St Inode Path (the path may hold spaces)
    const m = /^\s*\S+\s+\S+\s+\S+\s+\S+\s+\S+\s+(\S+)\s+\S+\s(.*)$/.exec(text.slice(start, end < 0 ? undefined : end));
    if (m && m[1] === "03" && m[2] === path) n++;
  }
  return n;
}
