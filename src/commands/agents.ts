import { FleetCollector } from "../fleet/collector.js";
import type { FleetAgent, FleetSnapshot } from "../fleet/model.js";
import { PRICES_AS_OF } from "../fleet/pricing/index.js";
import { UnsupportedPlatformError } from "../fleet/procfs.js";
import { sweepRegistry } from "../fleet/registry.js";
import { CommandError, UsageError, type CommandContext, type CommandSpec, type ShellService } from "../shell/command.js";
import { parseFlags } from "../shell/args.js";
import { UNKNOWN_COMMAND } from "../shell/run.js";
import { ConfigWatcher, settingsFor, type SloSettings } from "../slo/config.js";
import { evaluateAgent, sloTarget } from "../slo/evaluate.js";
import { compactIncidentsIfLarge, readIncidents } from "../slo/incidents.js";
import { agentOverrides } from "./overrides.js";
import { plainTable } from "../term/table.js";
import { sleepUnlessAborted } from "../util/sleep.js";
import { CATALOG } from "./catalog.js";
import { rawOutput } from "../term/output.js";
import { escapeText, safeJson } from "../term/sanitize.js";
import { FLEET_COLUMNS, WIDE_COLUMNS, agentCells } from "../tui/fleet-table.js";
import { fittedTable } from "../tui/table.js";
import { clip, wrapWords } from "../tui/text.js";

export const EMPTY_FLEET = "no agents discovered or registered yet";
const USAGE = "usage: /agents [--wide] [--json] [--watch [--interval S]]";
/** Default refresh of `--watch`, seconds. */
export const WATCH_INTERVAL_S = 2;

/** A row of the table (kept for the library: the cells before escaping). */
export function agentRow(a: FleetAgent, now: number, wide: boolean): string[] {
  return agentCells(a, now, wide);
}

/** The narrowest terminal the table is fitted to; below it lines are cut. */
export const MIN_FIT_WIDTH = 60;

/**
 * The dashboard as text: one table, `-` where a signal cannot be observed. With `width`
 * (a terminal), the table fits it: columns are shortened and then dropped by the priority
 * of `FLEET_COLUMNS`, and the footer says which went; without (piped, or `--wide`), every
 * column at full width.
 */
export function renderFleet(snap: FleetSnapshot, wide: boolean, width?: number): string {
  if (snap.agents.length === 0) return EMPTY_FLEET + "\n";
  const rows = snap.agents.map((a) => agentCells(a, snap.takenAt, wide));
  const unpriced = [...new Set(snap.agents.filter((a) => a.transcript?.unpriced).map((a) => a.transcript!.model ?? "?"))];
  let footer = `prices as of ${PRICES_AS_OF}; rates over the last 5 min of each agent's own transcript`;
  if (unpriced.length) footer += `; unpriced: ${unpriced.map((m) => escapeText(m)).join(", ")} (set a price in agents.yaml)`;
  if (width === undefined || wide) return plainTable(wide ? [...FLEET_COLUMNS, ...WIDE_COLUMNS].map((c) => c.head) : FLEET_COLUMNS.map((c) => c.head), rows) + footer + "\n";
  const w = Math.max(width, MIN_FIT_WIDTH);
  const { lines, fitted } = fittedTable(FLEET_COLUMNS, rows, w);
  if (fitted.dropped.length) footer = `${fitted.dropped.join(", ")} hidden at ${width} columns (--wide shows every column); ` + footer;
  return [...lines.map((l) => clip(l, width)), ...wrapWords(footer, width)].join("\n") + "\n";
}

/** Columns of the terminal behind stdout, or undefined when stdout is not a terminal (piped: full width). */
export function terminalWidth(ctx: Pick<CommandContext, "stdout">): number | undefined {
  return ctx.stdout.isTTY === true && (ctx.stdout.columns ?? 0) > 0 ? ctx.stdout.columns : undefined;
}

export function newCollector(ctx: Pick<CommandContext, "home" | "env">, config = new ConfigWatcher(ctx.home)): FleetCollector {
  const procRoot = ctx.env.OPENSRE_PROC_ROOT || undefined; // tests: a simulated /proc
  return new FleetCollector({ home: ctx.home, env: ctx.env, overrides: agentOverrides(config), procRoot });
}

/** Marks agents with an open (or acknowledged) incident: the status column shows `breach:<slo>`. */
export function markBreaches(snap: FleetSnapshot, home: string): void {
  let read: ReturnType<typeof readIncidents>;
  try {
    read = readIncidents(home);
  } catch (err) {
    // an unusable incidents file (a link, a FIFO) costs the breach column, not the dashboard
    snap.warnings.push(`cannot read incidents: ${(err as Error).message}`);
    return;
  }
  const { incidents, warnings } = read;
  snap.warnings.push(...warnings);
  for (const i of incidents) {
    if (i.resolved_at) continue;
    const a = snap.agents.find((x) => x.pid === i.pid && (i.start_time === null || x.startTime === null || Math.abs(x.startTime - i.start_time) <= 1000));
    if (a && !a.openIncidents.includes(i.slo)) a.openIncidents.push(i.slo);
  }
}

async function snapshot(collector: FleetCollector, home: string, config: ConfigWatcher): Promise<FleetSnapshot> {
  // read the config before the refresh: the price-override lookups during the refresh would
  // otherwise be the first to see a newly broken file, and its error would never be shown
  const { error } = config.current();
  let snap: FleetSnapshot;
  try {
    snap = await collector.refresh();
  } catch (err) {
    if (err instanceof UnsupportedPlatformError) throw new CommandError(err.message);
    throw err;
  }
  if (error) snap.warnings.push(`${error} (price overrides from it are not applied)`);
  await compactIncidentsIfLarge(home).catch((err: Error) => snap.warnings.push(`cannot compact incidents: ${err.message}`));
  markBreaches(snap, home);
  return snap;
}

export const agentsCommand: CommandSpec = {
  ...CATALOG.agents,
  async run(args, ctx) {
    if (args[0] && !args[0].startsWith("-")) {
      throw new UsageError(UNKNOWN_COMMAND(["agents", ...args].join(" ")));
    }
    const { values } = parseFlags(args, { wide: { type: "boolean" }, json: { type: "boolean" }, watch: { type: "boolean" }, interval: { type: "string" } }, USAGE, false);
    const wide = values.wide === true;
    const config = new ConfigWatcher(ctx.home);
    const collector = newCollector(ctx, config);
    if (values.watch !== true) {
      const snap = await snapshot(collector, ctx.home, config);
      for (const w of snap.warnings) ctx.stderr.write(`warning: ${escapeText(w)}\n`);
      ctx.stdout.write(values.json === true ? safeJson(snap, 2) + "\n" : renderFleet(snap, wide, terminalWidth(ctx)));
      return 0;
    }
    const raw = (values.interval as string | undefined) ?? String(WATCH_INTERVAL_S);
    const interval = Number(raw);
    if (!Number.isFinite(interval) || interval < 0.2) throw new UsageError(`invalid --interval: ${raw} (seconds, at least 0.2)`);
    if (values.json !== true && ctx.stdout.isTTY === true) return liveView(ctx, collector, config, interval * 1000);
    return watchFleet(ctx, () => snapshot(collector, ctx.home, config), interval * 1000, wide, values.json === true);
  },
};

const TOP_USAGE = "usage: /top [--interval S]";

/** `opensre top`: the live view, a short name for `opensre agents --watch`. */
export const topCommand: CommandSpec = {
  ...CATALOG.top,
  async run(args, ctx) {
    const { values, positionals } = parseFlags(args, { interval: { type: "string" } }, TOP_USAGE);
    if (positionals.length) throw new UsageError(TOP_USAGE);
    return agentsCommand.run(["--watch", ...(values.interval !== undefined ? ["--interval", values.interval as string] : [])], ctx);
  },
};

/** The full-screen view on a terminal, fed by the same refresh as the one-shot table. */
async function liveView(ctx: CommandContext, collector: FleetCollector, config: ConfigWatcher, intervalMs: number): Promise<number> {
  const { runFleetView } = await import("../tui/fleet-view.js");
  const budgets = await liveBudgets(ctx);
  return runFleetView(ctx, {
    title: "opensre top",
    intervalMs,
    source: {
      take: async () => {
        const snap = await snapshot(collector, ctx.home, config);
        budgets.live.snapshot(snap);
        return snap;
      },
      toolCalls: (a, max) => {
        const path = a.transcript?.transcriptPath;
        if (!path) return [];
        const calls: { at: number; tool: string; summary: string }[] = [];
        const events = collector.store.events(path);
        for (let i = events.length - 1; i >= 0 && calls.length < max; i--) {
          const e = events[i]!;
          if (e.kind === "tool_call") calls.push({ at: e.t, tool: e.tool, summary: e.summary });
        }
        return calls.reverse();
      },
      slos: (a, now) => {
        const settings = settingsFor(config.current().config, a.name, a.provider);
        const lines = evaluateAgent(a, settings, now).map((f) => ({ slo: f.slo, target: sloTarget(f.slo, settings), breached: f.breached, detail: f.detail }));
        return [...lines, ...budgets.lines(a.name, settings)];
      },
    },
  });
}

/** The windowed objectives' error budgets and burn rates for the details page, from the history store (src/history/live.ts). */
async function liveBudgets(ctx: CommandContext) {
  const [{ LiveObjectives }, { historyFor }, { objectivesOf, describeObjective, windowLabel }] = await Promise.all([
    import("../history/live.js"),
    import("./watch.js"),
    import("../slo/objectives.js"),
  ]);
  let why = "history is off";
  const live = new LiveObjectives(historyFor(ctx.home, ctx.env, (w) => (why = w)), () => why);
  const pct = (n: number | null) => (n === null ? "-" : `${n.toFixed(1)}%`);
  const burn = (n: number | null) => (n === null ? "-" : `${n.toFixed(1)}×`);
  const lines = (agent: string, settings: SloSettings) => {
    const objectives = objectivesOf(settings);
    const b = live.budgets(agent, objectives);
    return objectives.map((o, i) => {
      const target = `${describeObjective(o).replace(/^\S+ /, "")} over ${windowLabel(o)}`;
      if (b.state !== "ready") return { slo: o.kind, target, breached: false, detail: b.state === "pending" ? "reading history…" : b.reason };
      const s = b.statuses[i]!;
      const detail =
        s.attainmentPct === null
          ? `no ${o.kind === "success" ? "requests" : "spending hours"} in the window yet`
          : `budget left ${pct(s.budgetRemainingPct)} · burn 1h ${burn(s.burnRate1h)}, ${windowLabel(o)} ${burn(s.burnRateWindow)} · attained ${pct(s.attainmentPct)}`;
      return { slo: o.kind, target, breached: s.budgetRemainingPct !== null && s.budgetRemainingPct <= 0, detail };
    });
  };
  return { live, lines };
}

/** Live view: refresh, draw, wait; the next refresh starts only after the previous one is drawn. */
async function watchFleet(ctx: CommandContext, take: () => Promise<FleetSnapshot>, intervalMs: number, wide: boolean, json: boolean): Promise<number> {
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  ctx.signal.addEventListener("abort", onAbort, { once: true });
  const offKey = ctx.onKey((k) => {
    if (k === "q" || k === "Q") stop.abort();
  });
  const tty = ctx.stdout.isTTY === true;
  try {
    while (!stop.signal.aborted) {
      const snap = await take();
      if (stop.signal.aborted) break;
      if (json) ctx.stdout.write(safeJson(snap) + "\n");
      else {
        const body = renderFleet(snap, wide);
        const head = `every ${intervalMs / 1000}s · ${new Date(snap.takenAt).toISOString().slice(11, 19)} UTC · q or Ctrl+C to exit\n`;
        if (tty) rawOutput(ctx.stdout).write("\x1b[H\x1b[2J"); // our own screen clear, past the filter
        ctx.stdout.write(head + body + (tty ? "" : "\n"));
      }
      await sleepUnlessAborted(intervalMs, stop.signal);
    }
  } finally {
    ctx.signal.removeEventListener("abort", onAbort);
    offKey?.();
  }
  return 0;
}

/** Dead and reused pids leave the registry when the shell starts. */
export const registrySweep: ShellService = {
  name: "registry sweep",
  async start({ home, notify }) {
    const gone = await sweepRegistry(home);
    if (gone.length) notify(`· removed ${gone.length} exited agent${gone.length > 1 ? "s" : ""} from the registry`);
    return () => undefined;
  },
};
