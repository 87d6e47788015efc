import { UsageError, type CommandSpec } from "../shell/command.js";
import { parseFlags } from "../shell/args.js";
import { DEFAULT_WINDOW_MS } from "../conflicts/detect.js";
import { decidePreTool, type PreToolInput } from "../conflicts/hook.js";
import { parseDuration } from "./conflicts.js";
import { CATALOG } from "./catalog.js";

const USAGE = "usage: /agents hook claude-pretool [--window S]";

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  let s = "";
  for await (const chunk of stream) s += typeof chunk === "string" ? chunk : (chunk as Buffer).toString("utf8");
  return s;
}

/**
 * A Claude Code `PreToolUse` hook: reads the hook JSON on stdin; exit 2 with a one-line
 * reason on stderr blocks the Edit/Write (Claude shows the reason to the model), exit 0
 * lets it through. Any failure of our own lets the edit through: a broken hook must never
 * stop the user's agent.
 */
export const hookCommand: CommandSpec = {
  ...CATALOG.hook,
  async run(args, ctx) {
    const { values, positionals } = parseFlags(args, { window: { type: "string" } }, USAGE);
    if (positionals.length !== 1 || positionals[0] !== "claude-pretool") throw new UsageError(USAGE);
    let windowMs = DEFAULT_WINDOW_MS;
    if (values.window !== undefined) {
      const w = parseDuration(values.window as string);
      if (w === undefined || w <= 0) throw new UsageError(`invalid --window: ${values.window as string}`);
      windowMs = w;
    }
    let input: PreToolInput;
    try {
      input = JSON.parse(await readAll(ctx.stdin)) as PreToolInput;
    } catch {
      ctx.stderr.write("opensre hook: stdin is not hook JSON; allowing\n");
      return 0;
    }
    try {
      const d = await decidePreTool(input, { home: ctx.home, env: ctx.env, windowMs });
      if (d.block) {
        ctx.stderr.write(`blocked by opensre: ${d.reason}\n`);
        return 2;
      }
    } catch (err) {
      ctx.stderr.write(`opensre hook: ${(err as Error).message}; allowing\n`);
    }
    return 0;
  },
};
