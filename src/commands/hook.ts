import { UsageError, type CommandSpec } from "../shell/command.js";
import { parseFlags } from "../shell/args.js";
import { DEFAULT_WINDOW_MS } from "../conflicts/detect.js";
import { decidePreTool, type PreToolInput } from "../conflicts/hook.js";
import { parseDuration } from "./conflicts.js";
import { CATALOG } from "./catalog.js";
import { escapeText } from "../term/sanitize.js";

const USAGE = "usage: /agents hook claude-pretool [--window S]";

/**
 * Claude Code writes the hook JSON and closes stdin at once. Input that has not become one
 * complete JSON object this long after we start reading is not coming (stdin left open, a
 * terminal): the edit is allowed rather than the agent held up.
 */
export const HOOK_STDIN_TIMEOUT_MS = 3000;
/** Most hook input read: a Write carries the whole new file; beyond this we do not parse it and allow. */
export const HOOK_STDIN_MAX_BYTES = 16 * 1024 * 1024;
/**
 * The whole decision gets this long; past it the edit is allowed. Claude Code gives a hook 60 s by default, then
 * kills it and reports a hook error: we answer before that. A decision takes about a second on a machine with
 * cores to spare; on one whose cores are saturated (several agents, builds and tests at once) it was seen to take
 * 15–20 s, and an answer that late is still worth more than allowing every edit unchecked.
 */
export const HOOK_DECISION_TIMEOUT_MS = 45_000;
/**
 * Claude Code reads exit 2 as "block this tool call" and any other non-zero exit as a hook
 * error shown to the user. A bad hook command line must never block every edit.
 */
export const HOOK_USAGE_EXIT = 1;

export type StdinResult = { ok: true; value: unknown } | { ok: false; why: string };

/**
 * Read one JSON value from `stream`: done at end of input, or as soon as what arrived parses
 * (a writer that never closes its end still gets an answer); bounded in time and bytes.
 */
export function readHookJson(stream: NodeJS.ReadableStream, timeoutMs = HOOK_STDIN_TIMEOUT_MS, maxBytes = HOOK_STDIN_MAX_BYTES): Promise<StdinResult> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    let settled = false;
    const finish = (r: StdinResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      stream.off("data", onData);
      stream.off("end", onEnd);
      stream.off("error", onError);
      stream.pause();
      resolve(r);
    };
    const parse = (): unknown => JSON.parse(Buffer.concat(chunks, bytes).toString("utf8"));
    const onData = (chunk: Buffer | string) => {
      const b = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
      bytes += b.length;
      if (bytes > maxBytes) return finish({ ok: false, why: `hook input over ${Math.round(maxBytes / (1024 * 1024))} MiB` });
      chunks.push(b);
      // a complete object ends with `}` (then maybe whitespace): try it without waiting for the end
      const text = b.toString("latin1").trimEnd();
      if (text.endsWith("}")) {
        try {
          finish({ ok: true, value: parse() });
        } catch {
          /* not complete yet */
        }
      }
    };
    const onEnd = () => {
      try {
        finish({ ok: true, value: parse() });
      } catch {
        finish({ ok: false, why: "stdin is not hook JSON" });
      }
    };
    const onError = (err: Error) => finish({ ok: false, why: `cannot read stdin: ${err.message}` });
    const timer = setTimeout(() => finish({ ok: false, why: `no hook JSON on stdin within ${timeoutMs / 1000}s` }), timeoutMs);
    stream.on("data", onData);
    stream.once("end", onEnd);
    stream.once("error", onError);
    stream.resume();
  });
}

/**
 * A Claude Code `PreToolUse` hook: reads the hook JSON on stdin; exit 2 with a one-line
 * reason on stderr blocks the Edit/Write (Claude shows the reason to the model), exit 0
 * lets it through. Any failure of our own lets the edit through — input that never comes,
 * a decision that takes too long, an error — and a bad command line exits 1, never 2:
 * a broken hook must never stop the user's agent.
 */
export const hookCommand: CommandSpec = {
  ...CATALOG.hook,
  async run(args, ctx) {
    let windowMs = DEFAULT_WINDOW_MS;
    try {
      const { values, positionals } = parseFlags(args, { window: { type: "string" } }, USAGE);
      if (positionals.length !== 1 || positionals[0] !== "claude-pretool") throw new UsageError(USAGE);
      if (values.window !== undefined) {
        const w = parseDuration(values.window as string);
        if (w === undefined || w <= 0) throw new UsageError(`invalid --window: ${escapeText(values.window as string)}`);
        windowMs = w;
      }
    } catch (err) {
      if (err instanceof UsageError) throw new UsageError(err.message, HOOK_USAGE_EXIT);
      throw err;
    }
    const input = await readHookJson(ctx.stdin);
    if (!input.ok) {
      ctx.stderr.write(`opensre hook: ${input.why}; allowing\n`);
      return 0;
    }
    if (typeof input.value !== "object" || input.value === null || Array.isArray(input.value)) {
      ctx.stderr.write("opensre hook: stdin is not hook JSON; allowing\n");
      return 0;
    }
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<"late">((resolve) => (timer = setTimeout(() => resolve("late"), HOOK_DECISION_TIMEOUT_MS)));
    try {
      const d = await Promise.race([decidePreTool(input.value as PreToolInput, { home: ctx.home, env: ctx.env, windowMs }), late]);
      if (d === "late") {
        ctx.stderr.write(`opensre hook: no decision within ${HOOK_DECISION_TIMEOUT_MS / 1000}s; allowing\n`);
        return 0;
      }
      if (d.block) {
        ctx.stderr.write(`blocked by opensre: ${escapeText(d.reason)}\n`);
        return 2;
      }
    } catch (err) {
      ctx.stderr.write(`opensre hook: ${escapeText((err as Error).message)}; allowing\n`);
    } finally {
      clearTimeout(timer);
    }
    return 0;
  },
};
