import { CommandError, UsageError, type CommandContext, type CommandSpec, type ShellService } from "../shell/command.js";
import type { FleetMetrics } from "../telemetry/fleet-metrics.js";
import type { OtlpProtocol, OtlpPush } from "../telemetry/otlp-export.js";
import type { OtlpReceiver } from "../telemetry/receiver.js";
import type { TelemetrySpool } from "../telemetry/spool.js";
import { escapeText } from "../term/sanitize.js";
import { parseFlags } from "../shell/args.js";
import { ConfigWatcher } from "../slo/config.js";
import { parseFloatLike } from "../slo/number.js";
import { describeIncident, runWatchdog, Watchdog, WATCH_INTERVAL_S } from "../slo/watchdog.js";
import { markBreaches, newCollector } from "./agents.js";
import { CATALOG } from "./catalog.js";
import type { HistoryRecorder } from "../history/recorder.js";

const USAGE =
  "usage: /agents watch [--interval S] [--notify-command CMD] [--once] [--otlp-port N [--otlp-host H] [--otlp-allow-remote]] [--metrics-port N [--metrics-host H]] [--otlp-endpoint URL [--otlp-protocol http/protobuf|http/json]]";

function portFlag(raw: string | undefined, flag: string): number | undefined {
  if (raw === undefined) return undefined;
  if (!/^\d+$/.test(raw) || Number(raw) > 65535) throw new UsageError(`invalid ${flag}: ${raw} (a port number, 0 for any free port)`);
  return Number(raw);
}

function listenError(err: unknown, host: string, port: number): CommandError {
  const code = (err as NodeJS.ErrnoException).code;
  const why = code === "EADDRINUSE" ? "address already in use" : code === "EACCES" ? "permission denied" : code === "EADDRNOTAVAIL" ? "address not available" : (err as Error).message;
  return new CommandError(`cannot listen on ${host}:${port}: ${why}`);
}

/**
 * The history store for a watchdog, opened on first use. Without the driver, history is off
 * for the process (one warning); an unusable database (locked, corrupt) is retried each tick
 * and warned about when its message changes. Never stops the watchdog.
 */
export function historyFor(home: string, env: NodeJS.ProcessEnv, warn: (w: string) => void, opts: { quietWithoutDriver?: boolean } = {}): () => Promise<HistoryRecorder | null> {
  let off = false;
  let last = "";
  return async () => {
    if (off) return null;
    try {
      const { sharedRecorder } = await import("../history/recorder.js");
      const r = await sharedRecorder(home, env);
      last = "";
      return r;
    } catch (err) {
      const e = err as Error;
      if (e.name === "HistoryUnavailableError") {
        off = true;
        if (opts.quietWithoutDriver) return null; // the shell: history is simply off; /agents report says why
      } else if (e.name !== "HistoryError") throw err;
      if (e.message !== last) warn(`history is off: ${e.message}`);
      last = e.message;
      return null;
    }
  };
}

function stamp(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, "Z");
}

/**
 * The headless SLO watchdog: a foreground process to leave in a terminal or run under
 * systemd/launchd. Logs one line per incident opened or resolved; Ctrl+C or SIGTERM stops it.
 */
export const watchCommand: CommandSpec = {
  ...CATALOG.watch,
  async run(args, ctx) {
    const { values, positionals } = parseFlags(
      args,
      {
        interval: { type: "string" },
        "notify-command": { type: "string" },
        once: { type: "boolean" },
        "otlp-port": { type: "string" },
        "otlp-host": { type: "string" },
        "otlp-allow-remote": { type: "boolean" },
        "metrics-port": { type: "string" },
        "metrics-host": { type: "string" },
        "otlp-endpoint": { type: "string" },
        "otlp-protocol": { type: "string" },
      },
      USAGE,
    );
    if (positionals.length) throw new UsageError(USAGE);
    const config = new ConfigWatcher(ctx.home);
    const initial = config.current();
    if (initial.error) throw new CommandError(escapeText(initial.error));
    let intervalS = initial.config.watchdog.interval_seconds ?? WATCH_INTERVAL_S;
    const rawInterval = values.interval as string | undefined;
    if (rawInterval !== undefined) {
      const n = parseFloatLike(rawInterval);
      if (n === undefined || !Number.isFinite(n) || n < 0.1) throw new UsageError(`invalid --interval: ${rawInterval} (seconds, at least 0.1)`);
      intervalS = n;
    }
    const notify = values["notify-command"] as string | undefined;
    const otlpPort = portFlag(values["otlp-port"] as string | undefined, "--otlp-port");
    const metricsPort = portFlag(values["metrics-port"] as string | undefined, "--metrics-port");
    const endpoint = values["otlp-endpoint"] as string | undefined;
    if (endpoint !== undefined && !/^https?:\/\/[^/]+/.test(endpoint)) throw new UsageError(`invalid --otlp-endpoint: ${endpoint} (an http:// or https:// URL)`);
    const protocol = values["otlp-protocol"] as string | undefined;
    if (protocol !== undefined && protocol !== "http/protobuf" && protocol !== "http/json") throw new UsageError(`invalid --otlp-protocol: ${protocol} (http/protobuf or http/json)`);
    if (protocol !== undefined && endpoint === undefined) throw new UsageError("--otlp-protocol needs --otlp-endpoint");
    const collector = newCollector(ctx, config);
    const closers: Array<() => Promise<void>> = [];
    let metrics: FleetMetrics | undefined;
    let push: OtlpPush | undefined;
    let receiver: OtlpReceiver | undefined;
    let spool: TelemetrySpool | undefined;
    const dog = new Watchdog({
      home: ctx.home,
      env: ctx.env,
      collector,
      config,
      notifyCommand: notify,
      alwaysCollect: otlpPort !== undefined || metricsPort !== undefined || endpoint !== undefined,
      onSnapshot: (snap, seconds) => {
        markBreaches(snap, ctx.home);
        metrics?.update(snap, (sid, pid) => collector.telemetry?.eventsFor(sid, pid) ?? [], seconds);
        spool?.prune();
        if (push && metrics) {
          void push.pushMetrics(metrics.collect());
          void push.flushLogs();
        }
      },
      onEvent: (e) => {
        ctx.stdout.write(`${stamp()} ${escapeText(describeIncident(e))}\n`);
        void push?.incident(e);
      },
      onWarning: (w) => ctx.stderr.write(`${stamp()} warning: ${escapeText(w)}\n`),
      history: historyFor(ctx.home, ctx.env, (w) => ctx.stderr.write(`${stamp()} warning: ${escapeText(w)}\n`)),
    });
    try {
      if (otlpPort !== undefined) {
        const host = (values["otlp-host"] as string | undefined) ?? "127.0.0.1";
        const { OtlpReceiver, receiverToken } = await import("../telemetry/receiver.js");
        const { TelemetrySpool } = await import("../telemetry/spool.js");
        const sp = new TelemetrySpool(ctx.home);
        spool = sp;
        receiver = new OtlpReceiver({ port: otlpPort, host, allowRemote: values["otlp-allow-remote"] === true, token: receiverToken(ctx.home), onEvents: (events) => sp.append(events) });
        let port: number;
        try {
          port = await receiver.start();
        } catch (err) {
          throw listenError(err, host, otlpPort);
        }
        const r = receiver;
        closers.push(() => r.close());
        ctx.stdout.write(`${stamp()} receiving OTLP/HTTP logs and metrics on http://${host.includes(":") ? `[${host}]` : host}:${port}\n`);
      }
      if (endpoint !== undefined) {
        const { OtlpPush, resolveExportConfig, ExportConfigError } = await import("../telemetry/otlp-export.js");
        const flags = { endpoint, ...(protocol ? { protocol: protocol as OtlpProtocol } : {}) };
        let config;
        try {
          config = { metrics: resolveExportConfig("metrics", flags, ctx.env), logs: resolveExportConfig("logs", flags, ctx.env) };
        } catch (err) {
          if (err instanceof ExportConfigError) throw new UsageError(err.message);
          throw err;
        }
        push = new OtlpPush(config, (r) => {
          if (r.failure === null) ctx.stderr.write(`${stamp()} OTLP ${r.signal} push to ${escapeText(r.url)} works again\n`);
          else ctx.stderr.write(`${stamp()} warning: OTLP ${r.signal} push to ${escapeText(r.url)} failed: ${escapeText(r.failure)}\n`);
        });
        ctx.stdout.write(`${stamp()} pushing metrics and incidents to ${escapeText(endpoint)} over OTLP/HTTP (${config.metrics.protocol})\n`);
      }
      if (metricsPort !== undefined || push) {
        const rec = receiver;
        const sp = spool;
        const p = push;
        const { FleetMetrics } = await import("../telemetry/fleet-metrics.js");
        const { brokerStats } = await import("../bus/client.js");
        metrics = new FleetMetrics({ receiver: () => rec?.stats, spool: () => sp?.stats(), export: () => p?.stats(), bus: () => brokerStats() });
      }
      if (push) {
        const p = push;
        const m = metrics!;
        closers.push(() => p.close(m.collect()));
      }
      if (metricsPort !== undefined) {
        const host = (values["metrics-host"] as string | undefined) ?? "127.0.0.1";
        const m = metrics!;
        const { serveMetrics } = await import("../telemetry/prometheus.js");
        let server;
        try {
          server = await serveMetrics(() => m.collect(), metricsPort, host);
        } catch (err) {
          throw listenError(err, host, metricsPort);
        }
        closers.push(server.close);
        ctx.stdout.write(`${stamp()} serving Prometheus metrics on http://${host.includes(":") ? `[${host}]` : host}:${server.port}/metrics\n`);
      }
      if (values.once === true) {
        await dog.tick();
        return 0;
      }
      return await loop(ctx, dog, intervalS);
    } finally {
      for (const c of closers.reverse()) await c().catch(() => undefined);
    }
  },
};

async function loop(ctx: CommandContext, dog: Watchdog, intervalS: number): Promise<number> {
  ctx.stdout.write(`${stamp()} watching agent SLOs every ${intervalS}s (agents.yaml in ${escapeText(ctx.home)}); Ctrl+C to stop\n`);
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  ctx.signal.addEventListener("abort", onAbort, { once: true });
  const onTerm = () => stop.abort();
  if (!ctx.interactive) process.once("SIGTERM", onTerm);
  try {
    await runWatchdog(dog, intervalS * 1000, stop.signal, (err) => ctx.stderr.write(`${stamp()} warning: evaluation failed: ${escapeText(err.message)}\n`));
  } finally {
    ctx.signal.removeEventListener("abort", onAbort);
    process.off("SIGTERM", onTerm);
  }
  ctx.stdout.write(`${stamp()} stopped\n`);
  return 0;
}

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
      history: historyFor(home, env, (w) => notify(`· watchdog: ${escapeText(w)}`), { quietWithoutDriver: true }),
      onEvent: (e) => notify(`${e.kind === "open" ? "!" : "·"} ${escapeText(describeIncident(e))}`),
      onWarning: (w) => {
        if (warned.has(w)) return; // a banner once per distinct problem, not every 30 s
        warned.add(w);
        notify(`· watchdog: ${escapeText(w)}`);
      },
    });
    const intervalMs = () => (config.current().config.watchdog.interval_seconds ?? WATCH_INTERVAL_S) * 1000;
    const loop = runWatchdog(dog, intervalMs(), stop.signal, (err) => notify(`· watchdog: evaluation failed: ${escapeText(err.message)}`));
    return async () => {
      stop.abort();
      await loop;
    };
  },
};
