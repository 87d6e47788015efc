import { readRegistry, updateRegistry } from "../fleet/registry.js";
import { CommandError, UsageError, type CommandSpec } from "../shell/command.js";
import { cycleIfWaits, cycleMessage, findCycles, renderWaitGraph } from "../conflicts/waits.js";
import { parsePid } from "../util/pid.js";
import { CATALOG } from "./catalog.js";
import { escapeText } from "../term/sanitize.js";

const WAIT_USAGE = "usage: /agents wait <pid> --on <other-pid>";

export const waitCommand: CommandSpec = {
  ...CATALOG.wait,
  async run(args, ctx) {
    // hand-parsed: `--on` takes a value that may look like a flag (`--on -1` must say invalid other-pid)
    const pos: string[] = [];
    let on: string | undefined;
    let clear = false;
    for (let i = 0; i < args.length; i++) {
      const a = args[i]!;
      if (a === "--on") {
        if (i + 1 >= args.length) throw new UsageError(WAIT_USAGE);
        on = args[++i]!;
      } else if (a.startsWith("--on=")) on = a.slice(5);
      else if (a === "--clear") clear = true;
      else if (a.startsWith("--")) throw new UsageError(WAIT_USAGE);
      else pos.push(a);
    }
    if (pos.length !== 1 || (on === undefined) === !clear) throw new UsageError(WAIT_USAGE);
    const pid = parsePid(pos[0]!);
    if (pid === undefined) throw new UsageError(`invalid pid: ${escapeText(pos[0]!)}`);
    let other: number | undefined;
    if (on !== undefined) {
      other = parsePid(on);
      if (other === undefined) throw new UsageError(`invalid other-pid: ${escapeText(on)}`);
      if (other === pid) throw new UsageError(`invalid pid: ${pid} waiting for itself`);
    }
    const msg = await updateRegistry(ctx.home, (records) => {
      const me = records.find((r) => r.pid === pid);
      if (!me) throw new CommandError(`pid ${pid} is not in the agent registry`);
      if (other === undefined) {
        me.waits_on = null;
        me.waits_since = null;
        return { result: `${escapeText(me.name)} (${pid}) no longer waits.`, records };
      }
      const them = records.find((r) => r.pid === other);
      if (!them) throw new CommandError(`pid ${other} is not in the agent registry`);
      const cycle = cycleIfWaits(records, pid, other);
      if (cycle) throw new CommandError(cycleMessage(records, cycle));
      me.waits_on = other;
      me.waits_since = new Date().toISOString();
      return { result: `${escapeText(me.name)} (${pid}) now waits on ${escapeText(them.name)} (${other}).`, records };
    });
    ctx.stdout.write(msg + "\n");
    return 0;
  },
};

export const graphCommand: CommandSpec = {
  ...CATALOG.graph,
  async run(args, ctx) {
    if (args.length) throw new UsageError("usage: /agents graph");
    const { records, warnings } = readRegistry(ctx.home);
    for (const w of warnings) ctx.stderr.write(`warning: ${escapeText(w)}\n`);
    if (!records.length) {
      ctx.stdout.write("no registered agents\n");
      return 0;
    }
    ctx.stdout.write(renderWaitGraph(records, Date.now()));
    for (const c of findCycles(records)) ctx.stdout.write(cycleMessage(records, c) + "\n");
    return 0;
  },
};
