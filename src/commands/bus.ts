import { join } from "node:path";
import {
  BUS_SOCKET_NAME,
  BusClosedError,
  BusFrameTooLargeError,
  BusDecodeError,
  Subscription,
  closePublishers,
  onBrokerWarning,
  publish,
  type BusMessage,
} from "../bus/index.js";
import { UsageError, type CommandContext, type CommandSpec } from "../shell/command.js";
import { parseFlags } from "../shell/args.js";
import { CATALOG } from "./catalog.js";

export const BUS_HEADER = "tailing /agents bus — Ctrl-C to exit";
export const BUS_DETACHED = "(detached)";

/** Control characters (and ESC) in a peer's text are shown escaped: the bus is a trusted-peer channel, not a terminal. */
function printable(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\x00-\x1f\x7f\x9b]/g, (c) => (c === "\t" ? " " : `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`));
}

/** `[agent] path — summary`, or `[agent] summary` when the path is empty. */
export function formatBusLine(m: BusMessage): string {
  const agent = `[${printable(m.agent)}]`;
  return m.path ? `${agent} ${printable(m.path)} — ${printable(m.summary)}` : `${agent} ${printable(m.summary)}`;
}

function socketPath(ctx: CommandContext): string {
  return join(ctx.home, BUS_SOCKET_NAME);
}

const BUS_USAGE = "usage: /agents bus [--json]";

export const busCommand: CommandSpec = {
  ...CATALOG.bus,
  async run(args, ctx) {
    const { values, positionals } = parseFlags(args, { json: { type: "boolean" } }, BUS_USAGE);
    if (positionals.length > 0) throw new UsageError(`unexpected argument: ${positionals[0]}\n${BUS_USAGE}`);
    const json = values.json === true;
    onBrokerWarning((line) => ctx.stderr.write(`warning: ${line}\n`));
    let sub: Subscription;
    try {
      sub = await Subscription.open({ path: socketPath(ctx), signal: ctx.signal });
    } catch (err) {
      if (ctx.signal.aborted) {
        ctx.stdout.write(BUS_DETACHED + "\n");
        return 0;
      }
      throw err;
    }
    ctx.stdout.write(BUS_HEADER + "\n");
    try {
      for await (const frame of sub) {
        if (frame.error) {
          ctx.stderr.write(`warning: skipped a bad frame: ${frame.error.message}\n`);
          continue;
        }
        ctx.stdout.write((json ? frame.raw : formatBusLine(frame.message)) + "\n");
      }
    } catch (err) {
      if (err instanceof BusClosedError) {
        ctx.stderr.write(`${err.message}; detached\n`);
        return 1;
      }
      throw err;
    }
    ctx.stdout.write(BUS_DETACHED + "\n");
    return 0;
  },
};

const PUBLISH_USAGE =
  "usage: /agents publish --agent NAME:PID --summary TEXT [--topic finding] [--source S] [--path P] [--data JSON]";

export const publishCommand: CommandSpec = {
  ...CATALOG.publish,
  async run(args, ctx) {
    const { values, positionals } = parseFlags(
      args,
      {
        agent: { type: "string" },
        summary: { type: "string" },
        topic: { type: "string" },
        source: { type: "string" },
        path: { type: "string" },
        data: { type: "string" },
      },
      PUBLISH_USAGE,
    );
    if (positionals.length > 0) throw new UsageError(`unexpected argument: ${positionals[0]}\n${PUBLISH_USAGE}`);
    const agent = values.agent as string | undefined;
    const summary = values.summary as string | undefined;
    if (!agent) throw new UsageError(`missing --agent NAME:PID\n${PUBLISH_USAGE}`);
    if (!summary) throw new UsageError(`missing --summary TEXT\n${PUBLISH_USAGE}`);
    let data: Record<string, unknown> = {};
    if (values.data !== undefined) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(values.data as string);
      } catch (err) {
        throw new UsageError(`invalid --data: not valid JSON (${(err as Error).message})`);
      }
      if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
        throw new UsageError("invalid --data: must be a JSON object, e.g. '{\"commit\":\"abc123\"}'");
      }
      data = parsed as Record<string, unknown>;
    }
    try {
      const sent = await publish(
        {
          agent,
          summary,
          topic: (values.topic as string | undefined) ?? "finding",
          source: (values.source as string | undefined) ?? "",
          path: (values.path as string | undefined) ?? "",
          data,
        },
        { path: socketPath(ctx) },
      );
      ctx.stdout.write(`published ${sent.id}\n`);
      return 0;
    } catch (err) {
      if (err instanceof BusFrameTooLargeError || err instanceof BusDecodeError) throw new UsageError(err.message);
      throw err;
    } finally {
      await closePublishers();
    }
  },
};
