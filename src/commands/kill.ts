import { forgetAgent, lookupAgent } from "../fleet/registry.js";
import { CommandError, UsageError, type CommandSpec } from "../shell/command.js";
import { parseFlags } from "../shell/args.js";
import { killEvent, withIncidents } from "../slo/incidents.js";
import { describeKill, terminate } from "../slo/kill.js";
import { isPidAlive, parsePid } from "../util/pid.js";
import { CATALOG } from "./catalog.js";

export const KILL_USAGE = "usage: /agents kill <pid> [--force]";

export const killCommand: CommandSpec = {
  ...CATALOG.kill,
  async run(args, ctx) {
    const { values, positionals } = parseFlags(args, { force: { type: "boolean" } }, KILL_USAGE);
    if (positionals.length !== 1) throw new UsageError(KILL_USAGE);
    const raw = positionals[0]!;
    const pid = parsePid(raw);
    if (pid === undefined) throw new UsageError(`invalid pid: ${raw} is not an integer`);
    if (pid === process.pid) throw new CommandError("refusing to kill the opensre process itself");
    if (!isPidAlive(pid)) throw new CommandError(`no such process: pid ${pid}`);
    const rec = lookupAgent(ctx.home, pid);
    const label = rec ? `${rec.name} (pid ${pid})` : `pid ${pid}`;
    if (values.force !== true) {
      const answer = await ctx.prompt(`About to SIGTERM ${label}. Confirm? [y/N] `);
      if (!/^y(es)?$/i.test(answer.trim())) {
        ctx.stdout.write("Cancelled.\n");
        return 1;
      }
    }
    const outcome = await terminate(pid);
    if (!outcome.ok) throw new CommandError(outcome.message);
    const line = describeKill(outcome);
    ctx.stdout.write(line + "\n");
    if (outcome.exited) await forgetAgent(ctx.home, pid);
    // record the kill on the agent's open incidents
    await withIncidents(ctx.home, (incidents) => ({
      result: undefined,
      events: incidents.filter((i) => i.pid === pid && !i.resolved_at).map((i) => killEvent(i.id, new Date(), outcome.signal, line)),
    }));
    return outcome.exited ? 0 : 1;
  },
};
