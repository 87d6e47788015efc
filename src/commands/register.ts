import { classify, discover, exclusionReason } from "../fleet/discovery.js";
import { readProcessTable, UnsupportedPlatformError } from "../fleet/procfs.js";
import { forgetAgent, registerAgent } from "../fleet/registry.js";
import { CommandError, UsageError, type CommandSpec } from "../shell/command.js";
import { parseFlags, pidArg as parsePidArg } from "../shell/args.js";
import { isPidAlive } from "../util/pid.js";
import { plainTable } from "../term/table.js";
import { CATALOG } from "./catalog.js";
import { escapeText } from "../term/sanitize.js";

function pidArg(raw: string | undefined, usage: string): number {
  if (raw === undefined) throw new UsageError(usage);
  return parsePidArg(raw);
}

/** The process table (tests point it at a simulated or filtered /proc with OPENSRE_PROC_ROOT). */
function table(env: NodeJS.ProcessEnv) {
  try {
    return readProcessTable({ procRoot: env.OPENSRE_PROC_ROOT || undefined });
  } catch (err) {
    if (err instanceof UnsupportedPlatformError) throw new CommandError(err.message);
    throw err;
  }
}

const REGISTER_USAGE = "usage: /agents register <pid> [name] [--command C]";
export const registerCommand: CommandSpec = {
  ...CATALOG.register,
  async run(args, ctx) {
    const { values, positionals } = parseFlags(args, { command: { type: "string" } }, REGISTER_USAGE);
    if (positionals.length < 1 || positionals.length > 2) throw new UsageError(REGISTER_USAGE);
    const pid = pidArg(positionals[0], REGISTER_USAGE);
    if (!isPidAlive(pid)) throw new CommandError(`no such process: pid ${pid}`);
    const proc = table(ctx.env).procs.find((p) => p.pid === pid);
    const guess = proc ? classify(proc) : null;
    const rec = await registerAgent(ctx.home, {
      pid,
      name: positionals[1] ?? guess?.provider ?? undefined,
      provider: guess?.provider ?? "unknown",
      command: (values.command as string | undefined) ?? proc?.argv.join(" ") ?? "",
    });
    ctx.stdout.write(`registered ${escapeText(rec.name)} (pid ${pid})\n`);
    return 0;
  },
};

const FORGET_USAGE = "usage: /agents forget <pid>";
export const forgetCommand: CommandSpec = {
  ...CATALOG.forget,
  async run(args, ctx) {
    if (args.length !== 1) throw new UsageError(FORGET_USAGE);
    const pid = pidArg(args[0], FORGET_USAGE);
    const gone = await forgetAgent(ctx.home, pid);
    if (!gone) throw new CommandError(`pid ${pid} is not in the agent registry`);
    ctx.stdout.write(`forgot ${escapeText(gone.name)} (pid ${pid})\n`);
    return 0;
  },
};

const SCAN_USAGE = "usage: /agents scan [--register] [--all] [--explain]";
export const scanCommand: CommandSpec = {
  ...CATALOG.scan,
  async run(args, ctx) {
    const { values } = parseFlags(args, { register: { type: "boolean" }, all: { type: "boolean" }, explain: { type: "boolean" } }, SCAN_USAGE, false);
    const t = table(ctx.env);
    const uid = process.getuid?.() ?? -1;
    const found = discover(t.procs, uid, new Set([process.pid]));
    const explain = values.explain === true;
    const rows: string[][] = found.map((c) => [String(c.proc.pid), c.provider, c.confidence.toFixed(2), ...(explain ? [c.reason] : []), c.proc.argv.join(" ").slice(0, 80)]);
    if (values.all === true) {
      // other users' agents and excluded look-alikes, with the reason they are not rows
      for (const p of t.procs) {
        if (found.some((c) => c.proc.pid === p.pid) || p.pid === process.pid) continue;
        const c = classify(p);
        const excluded = exclusionReason(p);
        if (!c && !(excluded && /claude|codex|cursor|gemini|aider/i.test(p.argv.join(" ")))) continue;
        const why = c ? (p.uid !== uid ? `another user's process (uid ${p.uid})` : "collapsed into its parent agent") : `excluded: ${excluded}`;
        rows.push([String(p.pid), c?.provider ?? "-", "-", ...(explain ? [why] : []), p.argv.join(" ").slice(0, 80)]);
      }
    }
    if (rows.length === 0) {
      ctx.stdout.write("no agent processes found\n");
      return 0;
    }
    ctx.stdout.write(plainTable(["pid", "provider", "confidence", ...(explain ? ["reason"] : []), "command"], rows));
    if (values.register === true) {
      for (const c of found) {
        await registerAgent(ctx.home, { pid: c.proc.pid, name: c.provider, provider: c.provider, command: c.proc.argv.join(" "), source: "discovered" });
      }
      ctx.stdout.write(`registered ${found.length} discovered agent${found.length === 1 ? "" : "s"}\n`);
    }
    return 0;
  },
};
