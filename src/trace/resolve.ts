import { execFile } from "node:child_process";
import { promises as fsp } from "node:fs";

/** What is behind a file descriptor of a process. Only `file` targets can be traced. */
export type StdTarget =
  | { kind: "file"; path: string; size: number; mtimeMs: number; ino: number; dev: number }
  | { kind: "terminal" | "pipe" | "socket" | "anon_inode" | "char_device" | "other"; path: string };

export type ResolveFailure = "no_such_pid" | "permission_denied" | "vanished" | "closed" | "unsupported_platform";

export type ResolveResult =
  | { ok: true; target: StdTarget }
  | { ok: false; reason: ResolveFailure; path?: string };

export interface ResolveOptions {
  /** Root of the proc file system (tests point it at a simulated tree). Default `/proc`. */
  procRoot?: string;
  platform?: NodeJS.Platform;
}

/** Terminal character devices on Linux: tty (4), console/ptmx (5), pts (136–143). */
function isTerminalDevice(path: string, rdev: number): boolean {
  const major = Math.floor(rdev / 256) & 0xfff;
  if (major === 4 || major === 5 || (major >= 136 && major <= 143)) return true;
  return /^\/dev\/(pts\/\d+|tty\w*|console|ptmx)$/.test(path);
}

function errCode(err: unknown): string {
  return (err as NodeJS.ErrnoException)?.code ?? "";
}

/**
 * Resolve what fd 1 (or 2) of `pid` points at. Linux: readlink + stat of
 * `/proc/<pid>/fd/<n>` (no child process, cheap enough for every dashboard refresh).
 * macOS: `lsof -F ftn`. Windows: unsupported.
 */
export async function resolveStdTarget(pid: number, fd: 1 | 2 = 1, opts: ResolveOptions = {}): Promise<ResolveResult> {
  const platform = opts.platform ?? process.platform;
  if (platform === "darwin" && !opts.procRoot) return resolveDarwin(pid, fd);
  if (platform !== "linux" && !opts.procRoot) return { ok: false, reason: "unsupported_platform" };
  const root = opts.procRoot ?? "/proc";
  const link = `${root}/${pid}/fd/${fd}`;
  let target: string;
  try {
    target = await fsp.readlink(link);
  } catch (err) {
    const code = errCode(err);
    if (code === "EACCES" || code === "EPERM") return { ok: false, reason: "permission_denied" };
    if (code === "ENOENT") {
      // the process is gone, or it is alive with that descriptor closed
      try {
        await fsp.access(`${root}/${pid}`);
      } catch {
        return { ok: false, reason: "no_such_pid" };
      }
      return { ok: false, reason: "closed" };
    }
    throw err;
  }
  if (target.startsWith("pipe:")) return { ok: true, target: { kind: "pipe", path: target } };
  if (target.startsWith("socket:")) return { ok: true, target: { kind: "socket", path: target } };
  if (target.startsWith("anon_inode:")) return { ok: true, target: { kind: "anon_inode", path: target } };
  if (target.endsWith(" (deleted)")) return { ok: false, reason: "vanished", path: target.slice(0, -" (deleted)".length) };
  let st;
  try {
    st = await fsp.stat(link); // follows the descriptor itself, not the (possibly replaced) path
  } catch (err) {
    const code = errCode(err);
    if (code === "EACCES" || code === "EPERM") return { ok: false, reason: "permission_denied" };
    if (code === "ENOENT") return { ok: false, reason: "vanished", path: target };
    throw err;
  }
  if (st.isFile()) {
    return { ok: true, target: { kind: "file", path: target, size: st.size, mtimeMs: st.mtimeMs, ino: st.ino, dev: st.dev } };
  }
  if (st.isCharacterDevice()) {
    return { ok: true, target: { kind: isTerminalDevice(target, st.rdev) ? "terminal" : "char_device", path: target } };
  }
  if (st.isFIFO()) return { ok: true, target: { kind: "pipe", path: target } };
  if (st.isSocket()) return { ok: true, target: { kind: "socket", path: target } };
  return { ok: true, target: { kind: "other", path: target } };
}

/** Parse `lsof -F ftn` output for one descriptor: `f1`, `tREG`, `n/path` lines. */
export function parseLsof(output: string, fd: 1 | 2): { type: string; name: string } | undefined {
  let current: { f?: string; t?: string; n?: string } = {};
  const done: Array<typeof current> = [];
  for (const line of output.split("\n")) {
    if (!line) continue;
    const tag = line[0];
    const value = line.slice(1);
    if (tag === "f") {
      if (current.f !== undefined) done.push(current);
      current = { f: value };
    } else if (tag === "t") current.t = value;
    else if (tag === "n") current.n = value;
  }
  if (current.f !== undefined) done.push(current);
  const hit = done.find((d) => d.f === String(fd));
  return hit ? { type: hit.t ?? "", name: hit.n ?? "" } : undefined;
}

function resolveDarwin(pid: number, fd: 1 | 2): Promise<ResolveResult> {
  return new Promise((resolve) => {
    execFile("lsof", ["-F", "ftn", "-a", "-p", String(pid), "-d", String(fd)], { timeout: 5000 }, async (err, stdout) => {
      if (err && !stdout) {
        try {
          process.kill(pid, 0);
        } catch (e) {
          resolve({ ok: false, reason: errCode(e) === "EPERM" ? "permission_denied" : "no_such_pid" });
          return;
        }
        resolve({ ok: false, reason: "closed" });
        return;
      }
      const hit = parseLsof(stdout, fd);
      if (!hit) {
        resolve({ ok: false, reason: "closed" });
        return;
      }
      const kinds: Record<string, StdTarget["kind"]> = { CHR: "char_device", PIPE: "pipe", FIFO: "pipe", unix: "socket", IPv4: "socket", IPv6: "socket" };
      if (hit.type !== "REG") {
        let kind = kinds[hit.type] ?? "other";
        if (kind === "char_device" && /^\/dev\/(ttys\d+|tty\w*|console|ptmx)$/.test(hit.name)) kind = "terminal";
        resolve({ ok: true, target: { kind, path: hit.name } as StdTarget });
        return;
      }
      try {
        const st = await fsp.stat(hit.name);
        resolve({ ok: true, target: { kind: "file", path: hit.name, size: st.size, mtimeMs: st.mtimeMs, ino: st.ino, dev: st.dev } });
      } catch {
        resolve({ ok: false, reason: "vanished", path: hit.name });
      }
    });
  });
}
