import { CommandError, UsageError, type CommandSpec } from "../shell/command.js";
import { parseFlags, pidArg } from "../shell/args.js";
import { checkKill, isKillConfirmed, killAgent, killQuestion } from "../slo/kill.js";
import { CATALOG } from "./catalog.js";
import { escapeText } from "../term/sanitize.js";

export const KILL_USAGE = "usage: /agents kill <pid> [--force] [--any]";

export const killCommand: CommandSpec = {
  ...CATALOG.kill,
  async run(args, ctx) {
    const { values, positionals } = parseFlags(args, { force: { type: "boolean" }, any: { type: "boolean" } }, KILL_USAGE);
    if (positionals.length !== 1) throw new UsageError(KILL_USAGE);
    const pid = pidArg(positionals[0]!);
    // the same guards and question as the live view's K (src/slo/kill.ts)
    const check = checkKill(ctx.home, pid, { any: values.any === true, procRoot: ctx.env.OPENSRE_PROC_ROOT || undefined });
    if (!check.ok) throw new CommandError(check.message);
    if (values.force !== true) {
      const answer = await ctx.prompt(killQuestion(check.label));
      if (!isKillConfirmed(answer)) {
        ctx.stdout.write("Cancelled.\n");
        return 1;
      }
    }
    const result = await killAgent(ctx.home, pid, { startTime: check.startTime });
    if (!result.ok) throw new CommandError(result.message);
    ctx.stdout.write(result.line + "\n");
    return result.exited ? 0 : 1;
  },
};
