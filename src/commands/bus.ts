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
import { UsageError, type CommandContext, type CommandSpec, type OutputStream } from "../shell/command.js";
import { parseFlags } from "../shell/args.js";
import { escapeText } from "../term/sanitize.js";
import { rawOutput } from "../term/output.js";
import { CATALOG } from "./catalog.js";

export const BUS_HEADER = "tailing /agents bus — Ctrl-C to exit";
export const BUS_DETACHED = "(detached)";

/** `[agent] path — summary`, or `[agent] summary` when the path is empty; every field escaped (C0, C1, bidi). */
export function formatBusLine(m: BusMessage): string {
  const agent = `[${escapeText(m.agent)}]`;
  return m.path ? `${agent} ${escapeText(m.path)} — ${escapeText(m.summary)}` : `${agent} ${escapeText(m.summary)}`;
}

/** The line a view shows where frames were lost for it. */
export function droppedLine(count: number): string {
  return `· dropped ${count} frame${count === 1 ? "" : "s"}`;
}

/** The line a view shows when the broker handed over and the subscription followed. */
export function handoverLine(from: number, to: number): string {
  return `· bus broker (pid ${from}) stopped; attached to pid ${to}`;
}

// eslint-disable-next-line no-control-regex
const TERMINAL_ACTIVE = /[\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/g;

/**
 * A valid frame's JSON for a terminal: the same data, inert. Inside strings JSON allows DEL,
 * C1 and bidirectional controls raw: they become `\uXXXX` escapes. Outside strings only
 * whitespace may appear raw: tab and carriage return become spaces. Invalid UTF-8 cannot be
 * shown as bytes on a terminal; it is shown as U+FFFD and `lossy` says so.
 */
export function jsonForTerminal(raw: Buffer): { text: string; lossy: boolean } {
  const decoded = raw.toString("utf8");
  const lossy = !Buffer.from(decoded, "utf8").equals(raw);
  const text = decoded
    .replace(/[\t\r]/g, " ")
    .replace(TERMINAL_ACTIVE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
  return { text, lossy };
}

function socketPath(ctx: CommandContext): string {
  return join(ctx.home, BUS_SOCKET_NAME);
}

/** Write, and wait for the stream to drain when it asks to (or for Ctrl+C): a slow reader of our output never grows our memory. */
async function write(stream: OutputStream, data: string | Buffer, signal: AbortSignal): Promise<void> {
  if (stream.write(data) || signal.aborted) return;
  await new Promise<void>((resolve) => {
    const done = () => {
      stream.off("drain", done);
      signal.removeEventListener("abort", done);
      resolve();
    };
    stream.on("drain", done);
    signal.addEventListener("abort", done, { once: true });
  });
}

const BUS_USAGE = "usage: /agents bus [--json]";
const NL = Buffer.from("\n");

export const busCommand: CommandSpec = {
  ...CATALOG.bus,
  async run(args, ctx) {
    const { values, positionals } = parseFlags(args, { json: { type: "boolean" } }, BUS_USAGE);
    if (positionals.length > 0) throw new UsageError(`unexpected argument: ${positionals[0]}\n${BUS_USAGE}`);
    const json = values.json === true;
    onBrokerWarning((line) => ctx.stderr.write(`warning: ${escapeText(line)}\n`));
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
    // --json: frames exactly as received go to the stream itself (see jsonForTerminal for a terminal);
    // status lines go to stderr so stdout stays one frame per line.
    const raw = rawOutput(ctx.stdout);
    const terminal = raw.isTTY === true;
    const status = json ? ctx.stderr : ctx.stdout;
    let warnedLossy = false;
    // Frames come in batches (one await for many); their lines are written together, in one
    // write per batch, and always before a status line that follows them.
    let pending: Array<Buffer | string> = [];
    const flush = async () => {
      if (pending.length === 0) return;
      const lines = pending;
      pending = [];
      const data = json && !terminal ? Buffer.concat(lines as Buffer[]) : (lines as string[]).join("");
      await write(json ? raw : ctx.stdout, data, ctx.signal);
    };
    const frame = (bytes: Buffer) => {
      if (!terminal) {
        pending.push(bytes, NL);
        return;
      }
      const { text, lossy } = jsonForTerminal(bytes);
      if (lossy && !warnedLossy) {
        warnedLossy = true;
        ctx.stderr.write("warning: a frame holds invalid UTF-8, shown as U+FFFD on this terminal; redirect the output for the exact bytes\n");
      }
      pending.push(text + "\n");
    };
    try {
      for await (const batch of sub.batches()) {
        for (const f of batch) {
          switch (f.kind) {
            case "message":
              if (json) frame(f.raw);
              else pending.push(formatBusLine(f.message) + "\n");
              break;
            case "bad":
              await flush();
              ctx.stderr.write(`warning: skipped a bad frame: ${escapeText(f.error.message)}\n`);
              break;
            case "dropped":
              if (json && f.raw) frame(f.raw);
              await flush();
              await write(status, droppedLine(f.count) + "\n", ctx.signal);
              break;
            case "notice":
              if (json) frame(f.raw);
              break;
            case "handover":
              await flush();
              await write(status, handoverLine(f.from, f.to) + "\n", ctx.signal);
              break;
          }
        }
        await flush();
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
