import { CommandError, UsageError, type CommandContext, type CommandSpec } from "../shell/command.js";
import { intFlag, parseFlags, pidArg } from "../shell/args.js";
import { lookupAgent } from "../fleet/registry.js";
import { processStartTime } from "../fleet/procfs.js";
import { resolveStdTarget, type ResolveResult } from "../trace/resolve.js";
import { runTraceSession } from "../trace/session.js";
import { FollowError } from "../trace/follow.js";
import { PacedOutput } from "../trace/pending.js";
import { CATALOG } from "./catalog.js";
import { rawOutput } from "../term/output.js";
import { escapeText } from "../term/sanitize.js";

const USAGE = "usage: /agents trace <pid> [--tail N] [--stderr] [--raw] [--transcript]";

/** `claude-code (pid 8421)` when registered (the name escaped for a terminal), else `pid 8421`. */
export function traceLabel(home: string, pid: number): string {
  let name: string | undefined;
  try {
    name = lookupAgent(home, pid)?.name;
  } catch {
    name = undefined; // an unreadable registry only costs the name
  }
  return name ? `${escapeText(name)} (pid ${pid})` : `pid ${pid}`;
}

/** The seed's refusal messages, word for word. */
export function refusal(label: string, pid: number, stream: "stdout" | "stderr", r: ResolveResult): string | null {
  const p = (path: string | undefined) => escapeText(path ?? "");
  const pre = `cannot trace ${label}: `;
  if (!r.ok) {
    switch (r.reason) {
      case "no_such_pid":
        return `${pre}no such pid ${pid}`;
      case "permission_denied":
        return `${pre}cannot inspect pid ${pid} (permission denied)`;
      case "vanished":
        return `${pre}${stream} target ${p(r.path)} no longer exists`;
      case "closed":
        return `${pre}${stream} is closed`;
      case "unsupported_platform":
        return `${pre}not supported on ${process.platform === "win32" ? "Windows" : process.platform}`;
    }
  }
  const t = r.target;
  switch (t.kind) {
    case "file":
      return null;
    case "terminal":
      return `${pre}${stream} is on a terminal; live tail not supported`;
    case "pipe":
      return `${pre}${stream} is a pipe; live tail not supported`;
    case "socket":
      return `${pre}${stream} is a socket; live tail not supported`;
    case "anon_inode":
      return `${pre}${stream} is an anonymous inode (${p(t.path)}); live tail not supported`;
    case "char_device":
      return `${pre}${stream} is a character device (${p(t.path)}); live tail not supported`;
    default:
      return `${pre}${stream} is not a regular file (${p(t.path)}); live tail not supported`;
  }
}

export const traceCommand: CommandSpec = {
  ...CATALOG.trace,
  async run(args, ctx) {
    const { values, positionals } = parseFlags(
      args,
      { tail: { type: "string" }, stderr: { type: "boolean" }, raw: { type: "boolean" }, transcript: { type: "boolean" } },
      USAGE,
    );
    if (positionals.length !== 1) throw new UsageError(USAGE);
    const pid = pidArg(positionals[0]!);
    const tailLines = intFlag(values.tail as string | undefined, "--tail");
    const label = traceLabel(ctx.home, pid);
    if (values.transcript === true) {
      const { runTranscriptTrace } = await import("../fleet/transcripts/follow.js");
      return runTranscriptTrace(pid, label, ctx, { tailLines, ...procOptions(ctx) });
    }
    const stream = values.stderr === true ? "stderr" : "stdout";
    const resolved = await resolveStdTarget(pid, stream === "stderr" ? 2 : 1, procOptions(ctx));
    const refused = refusal(label, pid, stream, resolved);
    if (refused || !resolved.ok || resolved.target.kind !== "file") throw new CommandError((refused ?? `cannot trace ${label}`) + transcriptHint(pid, resolved));
    const t = resolved.target;
    return follow(ctx, pid, label, t.path, { raw: values.raw === true, tailLines, fd: stream === "stderr" ? 2 : 1, expect: { dev: t.dev, ino: t.ino } });
  },
};

/** Output that cannot be tailed (a terminal, the common case, a pipe or a socket) can still be followed through the session transcript. */
export function transcriptHint(pid: number, r: ResolveResult): string {
  if (!r.ok || !["terminal", "pipe", "socket", "char_device"].includes(r.target.kind)) return "";
  return `\nto follow its session transcript instead: /agents trace ${pid} --transcript`;
}

/** Tests point the resolver at a simulated /proc with OPENSRE_PROC_ROOT; nothing else reads it. */
function procOptions(ctx: CommandContext): { procRoot?: string } {
  const root = ctx.env.OPENSRE_PROC_ROOT;
  return root ? { procRoot: root } : {};
}

async function follow(ctx: CommandContext, pid: number, label: string, path: string, o: { raw: boolean; tailLines?: number; fd: 1 | 2; expect: { dev: number; ino: number } }): Promise<number> {
  let atLineStart = true;
  // --raw asks for the bytes unchanged; otherwise the session's own filter has run and the guarded stdout runs it again (idempotent)
  const body = o.raw ? rawOutput(ctx.stdout) : ctx.stdout;
  // a reader that does not keep up (a stalled pipe) gets what fits, then a count of what was dropped
  const paced = new PacedOutput(ctx.stdout);
  const line = (text: string) => {
    if (!atLineStart) ctx.stdout.write("\n");
    ctx.stdout.write(text + "\n");
    atLineStart = true;
  };
  const droppedNotice = () => {
    const n = paced.dropped();
    if (n) line(`· dropped ${n} bytes of output: the reader was not keeping up`);
  };
  const write = (out: string | Buffer) => {
    if (out.length === 0) return;
    if (paced.hasRoom) droppedNotice();
    if (!paced.write(body, out)) return;
    const last = typeof out === "string" ? out[out.length - 1] : String.fromCharCode(out[out.length - 1]!);
    atLineStart = last === "\n";
  };
  let end: "interrupted" | "exited";
  try {
    ({ end } = await runTraceSession({
      path,
      pid,
      startTime: processStartTime(pid) ?? null,
      signal: ctx.signal,
      write,
      raw: o.raw,
      tailLines: o.tailLines,
      notice: (text) => {
        if (paced.hasRoom) line(text);
      },
      onReady: () => ctx.stdout.write(`trace ${label}  Ctrl+C to stop\n`),
      fd: o.fd,
      procRoot: procOptions(ctx).procRoot,
      expect: o.expect,
    }));
  } catch (err) {
    if (err instanceof FollowError) throw new CommandError(`cannot trace ${label}: ${escapeText(err.message)}`);
    throw err;
  }
  droppedNotice();
  if (end === "exited") line("· process exited");
  line("· trace ended");
  return 0;
}
