import { spawn } from "node:child_process";
import { closeSync, constants, fstatSync, openSync, readSync } from "node:fs";
import { publish } from "../bus/client.js";
import type { FleetCollector } from "../fleet/collector.js";
import type { FleetAgent, FleetSnapshot } from "../fleet/model.js";
import { isPidAlive } from "../util/pid.js";
import { ConfigWatcher, settingsFor, type SloConfig } from "./config.js";
import { DEFAULT_WINDOWS, evaluateAgent, hasSlo, type BurnWindows, type SloFinding } from "./evaluate.js";
import {
  compactIncidentsIfLarge,
  COOLDOWN_MS,
  EVIDENCE_BYTES,
  newIncidentId,
  openEvent,
  readIncidents,
  resolveEvent,
  withIncidents,
  type Incident,
  type IncidentEvent,
  type IncidentEvidence,
} from "./incidents.js";
import { sleepUnlessAborted } from "../util/sleep.js";
import { evaluateObjectives } from "./burn.js";
import { objectivesOf, type Objective, type Sli } from "./objectives.js";

/** What the watchdog needs of the history store: keep it current; count an objective's events over a recent period. */
export interface HistoryHook {
  update(snap: FleetSnapshot | null): Promise<{ warnings: string[] }>;
  objectiveSli(agent: string, o: Objective, now: number, ms: number): Sli;
}

/** Default evaluation interval, seconds. */
export const WATCH_INTERVAL_S = 30;
/** A notify command that runs longer than this is killed (the loop must keep its pace). */
export const NOTIFY_TIMEOUT_MS = 10_000;

export interface WatchdogEvent {
  kind: "open" | "resolve";
  incident: Incident;
}

export interface WatchdogOptions {
  home: string;
  env: NodeJS.ProcessEnv;
  /** Collector of the fleet (kept across ticks: transcripts are read incrementally). */
  collector: FleetCollector;
  config?: ConfigWatcher;
  now?: () => number;
  windows?: BurnWindows;
  /** Overrides agents.yaml's watchdog.cooldown_minutes and the 30-minute default. */
  cooldownMs?: number;
  /** Overrides agents.yaml's watchdog.notify_command. */
  notifyCommand?: string;
  /** Publish incident frames on the bus (default true). */
  publishOnBus?: boolean;
  onEvent?: (e: WatchdogEvent) => void;
  onWarning?: (w: string) => void;
  /** Collect the fleet every tick even with no SLO configured (metrics, telemetry export). */
  alwaysCollect?: boolean;
  /** Each snapshot collected, with the seconds the refresh took. */
  onSnapshot?: (snap: FleetSnapshot, seconds: number) => void;
  /** Keeps the history store current each tick (with the snapshot when one was collected); failures are warnings. */
  history?: () => Promise<HistoryHook | null>;
}

/**
 * The last `bytes` of a file as text (a character cut at the start is dropped). The open never
 * blocks (a FIFO at the path cannot hang the watchdog) and only a regular file is read.
 */
export function readTail(path: string, bytes = EVIDENCE_BYTES): string {
  const fd = openSync(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new Error(`${path} is not a regular file`);
    const size = st.size;
    const start = Math.max(0, size - bytes);
    const buf = Buffer.alloc(size - start);
    let off = 0;
    while (off < buf.length) {
      const n = readSync(fd, buf, off, buf.length - off, start + off);
      if (n === 0) break;
      off += n;
    }
    let text = buf.subarray(0, off).toString("utf8");
    if (start > 0) text = text.replace(/^\uFFFD+/, "");
    return text;
  } finally {
    closeSync(fd);
  }
}

/**
 * Evidence for an incident: the tail of the agent's stdout file, else of its transcript, and
 * its signals. On Linux stdout is read through `/proc/<pid>/fd/1` itself, never by the name it
 * resolves to: for a process in another mount namespace that name is another file (or a FIFO).
 */
export function collectEvidence(a: FleetAgent, procRoot = "/proc"): IncidentEvidence {
  let source: string | null = null;
  let output = "";
  const candidates: Array<[label: string | null, open: string | null]> = [
    [a.stdoutPath, a.stdoutPath && process.platform === "linux" ? `${procRoot}/${a.pid}/fd/1` : a.stdoutPath],
    [a.transcript?.transcriptPath ?? null, a.transcript?.transcriptPath ?? null],
  ];
  for (const [label, open] of candidates) {
    if (!label || !open) continue;
    try {
      output = readTail(open);
      source = label;
      break;
    } catch {
      /* vanished or unreadable: try the next source */
    }
  }
  const t = a.transcript;
  return {
    source,
    output,
    resources: { ...a.resource },
    signals: {
      status: a.status,
      lastOutputAt: a.lastOutputAt === null ? null : new Date(a.lastOutputAt).toISOString(),
      tokensPerMin: t ? t.tokensPerMin : null,
      usdPerHour: t ? t.usdPerHour : null,
      spendLastHourUsd: t ? t.spendLastHourUsd : null,
      errorRatePct: t ? t.errorRatePct : null,
      model: t ? t.model : null,
    },
  };
}

function sameAgent(i: Incident, a: { pid: number; startTime: number | null }): boolean {
  if (i.pid !== a.pid) return false;
  return i.start_time === null || a.startTime === null || Math.abs(i.start_time - a.startTime) <= 1000;
}

/** One line for banners and the headless log. */
export function describeIncident(e: WatchdogEvent): string {
  const i = e.incident;
  if (e.kind === "open") return `incident ${i.id} opened: ${i.agent} (pid ${i.pid}) ${i.slo}: ${i.detail}`;
  return `incident ${i.id} resolved (${i.resolution ?? "recovered"}): ${i.agent} (pid ${i.pid}) ${i.slo}`;
}

/**
 * The SLO watchdog: each tick collects the fleet, evaluates every agent that has an SLO,
 * opens incidents on breach (never twice, with a cool-down), resolves them when the signal
 * recovers or the agent exits, and responds: a bus frame on topic `incident`, the user's
 * notify command, and an event for the caller's banner or log. One bad agent, a broken
 * agents.yaml or a failing notify command never stops the loop.
 */
export class Watchdog {
  private readonly opts: WatchdogOptions;
  private readonly config: ConfigWatcher;
  private readonly now: () => number;

  constructor(opts: WatchdogOptions) {
    this.opts = opts;
    this.config = opts.config ?? new ConfigWatcher(opts.home);
    this.now = opts.now ?? Date.now;
  }

  private warn(w: string): void {
    this.opts.onWarning?.(w);
  }

  currentConfig(): SloConfig {
    const { config, error } = this.config.current();
    if (error) this.warn(`${error} (keeping the last valid settings)`);
    return config;
  }

  async tick(): Promise<WatchdogEvent[]> {
    const config = this.currentConfig();
    const anySlo = [...Object.values(config.agents), ...Object.values(config.providers)].some(hasSlo);
    let snap: FleetSnapshot | null = null;
    if (anySlo || this.opts.alwaysCollect) {
      const t0 = performance.now();
      snap = await this.opts.collector.refresh();
      try {
        this.opts.onSnapshot?.(snap, (performance.now() - t0) / 1000);
      } catch (err) {
        this.warn(`snapshot handler failed: ${(err as Error).message}`);
      }
    }
    // History is brought up to date before evaluating when an objective needs its counts;
    // otherwise after, so it never delays the threshold SLOs.
    const entries = [...Object.values(config.agents), ...Object.values(config.providers)];
    const anyObjective = entries.some((s) => s.success_objective_pct !== undefined || s.spend_objective_pct !== undefined);
    const history = anyObjective ? await this.recordHistory(snap) : null;
    try {
      return await this.evaluate(config, anySlo, snap, history);
    } finally {
      if (!anyObjective) await this.recordHistory(snap);
    }
  }

  private async evaluate(config: SloConfig, anySlo: boolean, snap: FleetSnapshot | null, history: HistoryHook | null): Promise<WatchdogEvent[]> {
    await compactIncidentsIfLarge(this.opts.home);
    // nothing configured and nothing open: no lock, no file touched
    if (!anySlo && !readIncidents(this.opts.home).incidents.some((i) => !i.resolved_at)) return [];
    const now = this.now();
    const findings = new Map<FleetAgent, SloFinding[]>();
    for (const a of snap?.agents ?? []) {
      try {
        const s = settingsFor(config, a.name, a.provider);
        if (!hasSlo(s)) continue;
        const list = evaluateAgent(a, s, now, this.opts.windows ?? DEFAULT_WINDOWS);
        const objectives = objectivesOf(s);
        // windowed objectives are judged from the history store; without it they are not evaluated
        if (objectives.length && history) list.push(...evaluateObjectives(objectives, (o, ms) => history.objectiveSli(a.name, o, now, ms)));
        findings.set(a, list);
      } catch (err) {
        this.warn(`could not evaluate ${a.name} (pid ${a.pid}): ${(err as Error).message}`);
      }
    }
    // evidence is read before the incidents lock is taken: nothing slow or blocking happens under it
    const evidence = new Map<FleetAgent, IncidentEvidence>();
    for (const [a, list] of findings) if (list.some((f) => f.breached)) evidence.set(a, collectEvidence(a));
    const cooldownMs = this.opts.cooldownMs ?? (config.watchdog.cooldown_minutes !== undefined ? config.watchdog.cooldown_minutes * 60_000 : COOLDOWN_MS);
    const events = await withIncidents(this.opts.home, (incidents) => {
      const out: IncidentEvent[] = [];
      const happened: WatchdogEvent[] = [];
      const at = new Date(now);
      const open = incidents.filter((i) => !i.resolved_at);
      for (const [a, list] of findings) {
        for (const f of list) {
          const mine = incidents.filter((i) => i.slo === f.slo && sameAgent(i, a));
          const current = mine.find((i) => !i.resolved_at);
          if (f.breached && !current) {
            const last = mine.reduce((m, i) => Math.max(m, Date.parse(i.resolved_at ?? "") || 0), 0);
            if (now - last < cooldownMs) continue;
            const incident: Incident = {
              id: newIncidentId(),
              agent: a.name,
              pid: a.pid,
              start_time: a.startTime,
              provider: a.provider,
              slo: f.slo,
              detail: f.detail,
              opened_at: at.toISOString(),
              acked_at: null,
              resolved_at: null,
              resolution: null,
              kills: [],
              evidence: evidence.get(a) ?? collectEvidence(a),
            };
            out.push(openEvent(incident));
            happened.push({ kind: "open", incident });
          } else if (!f.breached && current) {
            out.push(resolveEvent(current.id, at, "recovered"));
            happened.push({ kind: "resolve", incident: { ...current, resolved_at: at.toISOString(), resolution: "recovered" } });
          }
        }
      }
      // incidents whose agent is gone, or whose SLO is no longer configured
      for (const i of open) {
        if (happened.some((h) => h.incident.id === i.id)) continue;
        const resolution = this.staleReason(i, snap, config);
        if (resolution) {
          out.push(resolveEvent(i.id, at, resolution));
          happened.push({ kind: "resolve", incident: { ...i, resolved_at: at.toISOString(), resolution } });
        }
      }
      return { result: happened, events: out };
    });
    for (const e of events) await this.respond(e, config);
    return events;
  }

  /** Bring the history store up to date; the hook when it is usable this tick, else null (a warning says why). */
  private async recordHistory(snap: FleetSnapshot | null): Promise<HistoryHook | null> {
    if (!this.opts.history) return null;
    try {
      const recorder = await this.opts.history();
      if (!recorder) return null;
      for (const w of (await recorder.update(snap)).warnings) this.warn(`history: ${w}`);
      return recorder;
    } catch (err) {
      this.warn((err as Error).message);
      return null;
    }
  }

  /** Why an open incident with no finding this tick should close, or null to keep it open. */
  private staleReason(i: Incident, snap: FleetSnapshot | null, config: SloConfig): string | null {
    const agent = snap?.agents.find((a) => sameAgent(i, a));
    if (i.slo === "conflict") return agent || isPidAlive(i.pid) ? null : "agent exited"; // closed by hand or when the writer exits
    if (agent) {
      const s = settingsFor(config, agent.name, agent.provider);
      const configured =
        i.slo === "progress" ? (s.progress_minutes ?? 0) > 0
        : i.slo === "cost" ? s.hourly_budget_usd !== undefined
        : i.slo === "success" || i.slo === "spend" ? objectivesOf(s).some((o) => o.kind === i.slo)
        : s.error_rate_pct !== undefined;
      return configured ? null : "SLO removed from agents.yaml"; // configured but unobservable this tick: keep
    }
    if (!isPidAlive(i.pid)) return "agent exited";
    if (snap === null) return "SLO removed from agents.yaml";
    return "agent no longer tracked";
  }

  private async respond(e: WatchdogEvent, config: SloConfig): Promise<void> {
    try {
      this.opts.onEvent?.(e);
    } catch (err) {
      this.warn(`incident handler failed: ${(err as Error).message}`);
    }
    await respondToIncident(e, {
      env: this.opts.env,
      publishOnBus: this.opts.publishOnBus,
      notifyCommand: this.opts.notifyCommand ?? config.watchdog.notify_command,
      onWarning: (w) => this.warn(w),
    });
  }
}

/**
 * Incident response: a bus frame on topic `incident` (seed schema, details in `data`)
 * and the user's notify command with the incident JSON on stdin. Failures are warnings.
 */
export async function respondToIncident(
  e: WatchdogEvent,
  opts: { env: NodeJS.ProcessEnv; publishOnBus?: boolean; notifyCommand?: string; onWarning: (w: string) => void },
): Promise<void> {
  if (opts.publishOnBus !== false) {
    try {
      await publish(
        {
          agent: `opensre:${process.pid}`,
          topic: "incident",
          source: "opensre-watchdog",
          path: e.incident.path ?? e.incident.evidence.source ?? "",
          summary: describeIncident(e),
          data: { event: e.kind, incident: e.incident },
        },
        { env: opts.env },
      );
    } catch (err) {
      opts.onWarning(`could not publish incident ${e.incident.id} on the bus: ${(err as Error).message}`);
    }
  }
  if (opts.notifyCommand) {
    const problem = await runNotifyCommand(opts.notifyCommand, { event: e.kind, ...e.incident }, opts.env);
    if (problem) opts.onWarning(`notify command for incident ${e.incident.id} ${problem}`);
  }
}

/** Bytes of a notify command's stderr kept for the warning (its last line is shown). */
export const NOTIFY_STDERR_BYTES = 2000;

/**
 * Run `cmd` with `sh -c`, the incident JSON on stdin; resolves a problem description or null.
 * The command runs in a process group of its own: at NOTIFY_TIMEOUT_MS the whole group is
 * killed (`sh -c 'curl …'` forks: killing the shell alone leaves the stalled child running
 * and holding the pipes), and the result never waits on a pipe some leftover descendant
 * still holds open. Its stdout is discarded, its stderr kept up to NOTIFY_STDERR_BYTES.
 */
export function runNotifyCommand(cmd: string, payload: unknown, env: NodeJS.ProcessEnv, timeoutMs = NOTIFY_TIMEOUT_MS): Promise<string | null> {
  return new Promise((resolve) => {
    let child: ReturnType<typeof spawn>;
    try {
      child = spawn("/bin/sh", ["-c", cmd], { env, stdio: ["pipe", "ignore", "pipe"], detached: true });
    } catch (err) {
      resolve(`could not start: ${(err as Error).message}`);
      return;
    }
    let stderr = "";
    let done = false;
    let timedOut = false;
    let grace: NodeJS.Timeout | undefined;
    const killGroup = () => {
      try {
        if (child.pid) process.kill(-child.pid, "SIGKILL");
      } catch {
        /* the group is gone */
      }
    };
    const finish = (problem: string | null) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      clearTimeout(grace);
      child.stderr?.destroy();
      child.stdin?.destroy();
      resolve(problem);
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup();
      // the shell is dead within milliseconds; never wait longer on pipes
      grace = setTimeout(() => finish(`timed out after ${timeoutMs / 1000}s`), 1000);
    }, timeoutMs);
    child.stderr!.setEncoding("utf8");
    child.stderr!.on("data", (d: string) => {
      if (stderr.length < NOTIFY_STDERR_BYTES) stderr += d.slice(0, NOTIFY_STDERR_BYTES - stderr.length);
    });
    child.on("error", (err) => finish(`could not start: ${err.message}`));
    child.on("exit", (code) => {
      if (timedOut) return finish(`timed out after ${timeoutMs / 1000}s`);
      // stderr written just before exit is still in the pipe: read it, briefly (a descendant
      // left running in the background may hold the pipe open: it is not waited for)
      const settle = () => {
        const tail = stderr.trim().split("\n").pop() ?? "";
        finish(code !== 0 ? `exited with code ${code}${tail ? `: ${tail}` : ""}` : null);
      };
      if (child.stderr!.readableEnded) settle();
      else {
        child.stderr!.once("end", settle);
        grace = setTimeout(settle, 200);
      }
    });
    child.stdin!.on("error", () => undefined); // a command that ignores stdin closes it early
    child.stdin!.end(JSON.stringify(payload) + "\n");
  });
}

/** Run the watchdog every `intervalMs` until `signal` aborts; ticks never overlap. */
export async function runWatchdog(dog: Watchdog, intervalMs: number, signal: AbortSignal, onError: (err: Error) => void): Promise<void> {
  while (!signal.aborted) {
    try {
      await dog.tick();
    } catch (err) {
      onError(err as Error);
    }
    if (signal.aborted) break;
    await sleepUnlessAborted(intervalMs, signal);
  }
}
