import { CommandError, UsageError, type CommandSpec, type ShellService } from "../shell/command.js";
import { parseFlags } from "../shell/args.js";
import { ConfigWatcher } from "../slo/config.js";
import { parseFloatLike } from "../slo/number.js";
import { describeIncident, runWatchdog, Watchdog, WATCH_INTERVAL_S } from "../slo/watchdog.js";
import { newCollector } from "./agents.js";

const USAGE = "usage: /agents watch [--interval S] [--notify-command CMD] [--once]";

function stamp(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, "Z");
}

/**
 * The headless SLO watchdog: a foreground process to leave in a terminal or run under
 * systemd/launchd. Logs one line per incident opened or resolved; Ctrl+C or SIGTERM stops it.
 */
export const watchCommand: CommandSpec = {
  path: ["agents", "watch"],
  summary: "run the SLO watchdog in the foreground (incidents on the bus and to --notify-command)",
  usage: USAGE,
  async run(args, ctx) {
    const { values, positionals } = parseFlags(
      args,
      { interval: { type: "string" }, "notify-command": { type: "string" }, once: { type: "boolean" } },
      USAGE,
    );
    if (positionals.length) throw new UsageError(USAGE);
    const config = new ConfigWatcher(ctx.home);
    const initial = config.current();
    if (initial.error) throw new CommandError(initial.error);
    let intervalS = initial.config.watchdog.interval_seconds ?? WATCH_INTERVAL_S;
    const rawInterval = values.interval as string | undefined;
    if (rawInterval !== undefined) {
      const n = parseFloatLike(rawInterval);
      if (n === undefined || !Number.isFinite(n) || n < 0.1) throw new UsageError(`invalid --interval: ${rawInterval} (seconds, at least 0.1)`);
      intervalS = n;
    }
    const notify = values["notify-command"] as string | undefined;
    const dog = new Watchdog({
      home: ctx.home,
      env: ctx.env,
      collector: newCollector(ctx, config),
      config,
      notifyCommand: notify,
      onEvent: (e) => ctx.stdout.write(`${stamp()} ${describeIncident(e)}\n`),
      onWarning: (w) => ctx.stderr.write(`${stamp()} warning: ${w}\n`),
    });
    if (values.once === true) {
      await dog.tick();
      return 0;
    }
    ctx.stdout.write(`${stamp()} watching agent SLOs every ${intervalS}s (agents.yaml in ${ctx.home}); Ctrl+C to stop\n`);
    const stop = new AbortController();
    const onAbort = () => stop.abort();
    ctx.signal.addEventListener("abort", onAbort, { once: true });
    const onTerm = () => stop.abort();
    if (!ctx.interactive) process.once("SIGTERM", onTerm);
    try {
      await runWatchdog(dog, intervalS * 1000, stop.signal, (err) => ctx.stderr.write(`${stamp()} warning: evaluation failed: ${err.message}\n`));
    } finally {
      ctx.signal.removeEventListener("abort", onAbort);
      process.off("SIGTERM", onTerm);
    }
    ctx.stdout.write(`${stamp()} stopped\n`);
    return 0;
  },
};

/**
 * The watchdog inside the interactive shell: the same loop in the background, a one-line
 * banner above the prompt when an incident opens or resolves. Interval and notify command
 * come from agents.yaml's `watchdog:` section.
 */
export const watchdogService: ShellService = {
  name: "slo watchdog",
  start({ home, env, notify }) {
    const config = new ConfigWatcher(home);
    const stop = new AbortController();
    const warned = new Set<string>();
    const dog = new Watchdog({
      home,
      env,
      collector: newCollector({ home, env }, config),
      config,
      onEvent: (e) => notify(`${e.kind === "open" ? "!" : "·"} ${describeIncident(e)}`),
      onWarning: (w) => {
        if (warned.has(w)) return; // a banner once per distinct problem, not every 30 s
        warned.add(w);
        notify(`· watchdog: ${w}`);
      },
    });
    const intervalMs = () => (config.current().config.watchdog.interval_seconds ?? WATCH_INTERVAL_S) * 1000;
    const loop = runWatchdog(dog, intervalMs(), stop.signal, (err) => notify(`· watchdog: evaluation failed: ${err.message}`));
    return async () => {
      stop.abort();
      await loop;
    };
  },
};
