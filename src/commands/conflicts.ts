import { subscribe } from "../bus/client.js";
import { FleetCollector } from "../fleet/collector.js";
import { UnsupportedPlatformError } from "../fleet/procfs.js";
import { TranscriptStore } from "../fleet/transcripts/store.js";
import { CommandError, UsageError, type CommandContext, type CommandSpec } from "../shell/command.js";
import { parseFlags } from "../shell/args.js";
import { collectTranscriptWrites } from "../conflicts/collect.js";
import { DEFAULT_WINDOW_MS, detectConflicts } from "../conflicts/detect.js";
import { currentBranch } from "../conflicts/git.js";
import { openConflictIncidents } from "../conflicts/incident.js";
import { agentLabel, type Conflict, type WriteEvent } from "../conflicts/model.js";
import { PathNormalizer } from "../conflicts/paths.js";
import { busWrite } from "../conflicts/sources.js";
import { chooseWatchRoots, procAttribution, RepoWatcher } from "../conflicts/watcher.js";
import { homedir } from "node:os";
import type { FleetAgent, FleetSnapshot } from "../fleet/model.js";
import { describeIncident, respondToIncident } from "../slo/watchdog.js";
import { tildify } from "../util/home.js";
import { plainTable } from "../term/table.js";
import { sleepUnlessAborted } from "../util/sleep.js";
import { CATALOG } from "./catalog.js";
import { rawOutput } from "../term/output.js";
import { escapeText, safeJson } from "../term/sanitize.js";

const USAGE = "usage: /agents conflicts [--window S] [--since DURATION] [--watch [--interval S]] [--json]";
export const CONFLICTS_TITLE = "Agent file-write conflicts";
export const NO_CONFLICTS = "no conflicts detected";
/** Disk and bus events kept for the live window: a write storm must not grow memory without bound. */
export const MAX_LIVE_EVENTS = 100_000;
/** Providers whose transcripts record every file write; the others are watched on disk. */
const TRANSCRIPT_WRITERS = new Set(["claude-code", "codex", "gemini"]);

/** `90s`, `30m`, `2h`, `1d`, or plain seconds → ms. */
export function parseDuration(raw: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d)?$/i.exec(raw.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = (m[2] ?? "s").toLowerCase();
  const mult = unit.startsWith("s") ? 1000 : unit.startsWith("m") ? 60_000 : unit === "h" ? 3_600_000 : 86_400_000;
  return n * mult;
}

function hhmmss(t: number): string {
  return new Date(t).toISOString().slice(11, 19) + " UTC";
}

export function renderConflicts(conflicts: readonly Conflict[]): string {
  if (!conflicts.length) return NO_CONFLICTS + "\n";
  const rows = conflicts.map((c) => [tildify(c.path), c.agents.map(agentLabel).join(", "), hhmmss(c.firstSeen), hhmmss(c.lastSeen)]);
  return `${CONFLICTS_TITLE}\n` + plainTable(["path", "agents", "first seen", "last seen"], rows);
}

/**
 * Two live agents in the same worktree on the same branch: a conflict waiting to happen.
 * Names, branch and path are escaped for a terminal unless `escape` is false (JSON).
 */
export function sharedWorktrees(agents: readonly FleetAgent[], escape = true): string[] {
  const x = escape ? escapeText : (t: string) => t;
  const by = new Map<string, FleetAgent[]>();
  for (const a of agents) {
    if (!a.cwd) continue;
    const b = currentBranch(a.cwd);
    if (!b) continue;
    const k = `${b.root}\0${b.branch}`;
    by.set(k, [...(by.get(k) ?? []), a]);
  }
  const out: string[] = [];
  for (const [k, list] of by) {
    if (list.length < 2) continue;
    const [root, branch] = k.split("\0") as [string, string];
    out.push(`shared worktree: ${list.map((a) => `${x(a.name)} (${a.pid})`).join(", ")} on branch ${x(branch)} in ${x(tildify(root))}`);
  }
  return out;
}

function collectorFor(ctx: Pick<CommandContext, "home" | "env">, lookbackMs: number): FleetCollector {
  const store = new TranscriptStore({ env: ctx.env, writeRetainMs: lookbackMs + 60_000 });
  return new FleetCollector({ home: ctx.home, env: ctx.env, store, procRoot: ctx.env.OPENSRE_PROC_ROOT || undefined });
}

export const conflictsCommand: CommandSpec = {
  ...CATALOG.conflicts,
  async run(args, ctx) {
    const { values, positionals } = parseFlags(
      args,
      { window: { type: "string" }, since: { type: "string" }, watch: { type: "boolean" }, interval: { type: "string" }, json: { type: "boolean" } },
      USAGE,
    );
    if (positionals.length) throw new UsageError(USAGE);
    let windowMs = DEFAULT_WINDOW_MS;
    if (values.window !== undefined) {
      const w = parseDuration(values.window as string);
      if (w === undefined || w <= 0) throw new UsageError(`invalid --window: ${values.window as string} (seconds, or a duration such as 30s)`);
      windowMs = w;
    }
    let sinceMs: number | undefined;
    if (values.since !== undefined) {
      sinceMs = parseDuration(values.since as string);
      if (sinceMs === undefined || sinceMs <= 0) throw new UsageError(`invalid --since: ${values.since as string} (a duration such as 90s, 30m, 2h, 1d)`);
    }
    let intervalMs = 2000;
    if (values.interval !== undefined) {
      const i = parseDuration(values.interval as string);
      if (i === undefined || i < 200) throw new UsageError(`invalid --interval: ${values.interval as string} (seconds, at least 0.2)`);
      intervalMs = i;
    }
    try {
      if (values.watch === true) return await watchConflicts(ctx, windowMs, intervalMs);
      const lookback = sinceMs ?? windowMs;
      const collector = collectorFor(ctx, lookback);
      const now = Date.now();
      const { snapshot, writes } = await collectTranscriptWrites(collector, now - lookback, sinceMs !== undefined);
      const conflicts = detectConflicts(writes, { windowMs, from: now - lookback, ignorePrefixes: [ctx.home] });
      if (values.json === true) {
        ctx.stdout.write(safeJson({ windowMs, from: new Date(now - lookback).toISOString(), conflicts, sharedWorktrees: sharedWorktrees(snapshot.agents, false) }, 2) + "\n");
      } else {
        ctx.stdout.write(renderConflicts(conflicts));
        for (const s of sharedWorktrees(snapshot.agents)) ctx.stdout.write(s + "\n");
      }
      await report(ctx, await openConflictIncidents(ctx.home, conflicts, windowMs, now), values.json !== true);
      return 0;
    } catch (err) {
      if (err instanceof UnsupportedPlatformError) throw new CommandError(err.message);
      throw err;
    }
  },
};

async function report(ctx: CommandContext, opened: Awaited<ReturnType<typeof openConflictIncidents>>, print: boolean): Promise<void> {
  for (const incident of opened) {
    const e = { kind: "open" as const, incident };
    if (print) ctx.stdout.write(`· ${escapeText(describeIncident(e))}\n`);
    await respondToIncident(e, { env: ctx.env, onWarning: (w) => ctx.stderr.write(`warning: ${escapeText(w)}\n`) });
  }
}

/**
 * Live view: transcripts each refresh, plus a disk watcher on the repositories of agents
 * whose transcripts do not record writes, plus `write` frames from the bus. The window is
 * anchored at the current time, so old collisions age out of the view.
 */
async function watchConflicts(ctx: CommandContext, windowMs: number, intervalMs: number): Promise<number> {
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  ctx.signal.addEventListener("abort", onAbort, { once: true });
  const offKey = ctx.onKey((k) => {
    if (k === "q" || k === "Q") stop.abort();
  });
  const collector = collectorFor(ctx, windowMs);
  const live: WriteEvent[] = [];
  let agents: FleetAgent[] = [];
  const norm = new PathNormalizer();
  const keep = (e: WriteEvent) => {
    live.push(e);
    if (live.length > MAX_LIVE_EVENTS) live.splice(0, live.length - MAX_LIVE_EVENTS);
  };
  const watcher = new RepoWatcher(
    keep,
    () => procAttribution(agents, ctx.env.OPENSRE_PROC_ROOT || undefined),
    (w) => ctx.stderr.write(`warning: ${escapeText(w)}\n`),
  );
  const bus = (async () => {
    try {
      for await (const m of subscribe({ env: ctx.env, signal: stop.signal })) {
        const e = busWrite(m, agents, norm);
        if (e) keep(e);
      }
    } catch {
      /* the bus is optional here: transcripts and the disk still work */
    }
  })();
  const tty = ctx.stdout.isTTY === true;
  /** Refused watch roots already warned about (each once). */
  const warned = new Set<string>();
  try {
    while (!stop.signal.aborted) {
      const now = Date.now();
      let snap: FleetSnapshot;
      let writes: WriteEvent[];
      ({ snapshot: snap, writes } = await collectTranscriptWrites(collector, now - windowMs, false));
      agents = snap.agents;
      // only repositories are watched on disk (never /, never the home directory), a bounded number
      const { roots, refused } = chooseWatchRoots(agents.filter((a) => a.cwd && !TRANSCRIPT_WRITERS.has(a.provider)).map((a) => ({ label: `${a.name} (pid ${a.pid})`, cwd: a.cwd! })), ctx.env.HOME || homedir());
      for (const r of refused) {
        const key = `${r.label}\0${r.why}`;
        if (warned.has(key)) continue;
        if (warned.size >= 1000) warned.clear(); // agents come and go: a long watch keeps a bounded memory of them
        warned.add(key);
        ctx.stderr.write(`warning: not watching the disk for ${escapeText(r.label)}: ${escapeText(r.why)} (its writes are seen through the bus only)\n`);
      }
      await watcher.setRoots(roots, stop.signal);
      // keep only the window; an unattributed change that a transcript names is that agent's write
      while (live.length && live[0]!.at < now - windowMs) live.shift();
      const named = new Set(writes.map((w) => w.path));
      const unattributed = live.filter((e) => !e.agent && !named.has(e.path)).length;
      const conflicts = detectConflicts([...writes, ...live], { windowMs, from: now - windowMs, ignorePrefixes: [ctx.home] });
      if (stop.signal.aborted) break;
      const head = `every ${intervalMs / 1000}s · window ${windowMs / 1000}s · ${new Date(now).toISOString().slice(11, 19)} UTC · q or Ctrl+C to exit\n`;
      let body = renderConflicts(conflicts);
      for (const s of sharedWorktrees(agents)) body += s + "\n";
      if (unattributed) body += `${unattributed} change${unattributed === 1 ? "" : "s"} on disk with no evidence of which agent made ${unattributed === 1 ? "it" : "them"} (not counted)\n`;
      if (tty) rawOutput(ctx.stdout).write("\x1b[H\x1b[2J"); // our own screen clear, past the filter
      ctx.stdout.write(head + body + (tty ? "" : "\n"));
      await report(ctx, await openConflictIncidents(ctx.home, conflicts, windowMs, now), true);
      await sleepUnlessAborted(intervalMs, stop.signal);
    }
  } finally {
    stop.abort();
    ctx.signal.removeEventListener("abort", onAbort);
    offKey?.();
    await watcher.close();
    await bus;
  }
  return 0;
}
