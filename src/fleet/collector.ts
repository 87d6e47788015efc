import { resolveStdTarget } from "../trace/resolve.js";
import { repoRoot } from "../util/repo.js";
import { discover, type Candidate } from "./discovery.js";
import type { AgentRecord, FleetAgent, FleetSnapshot, ResourceSignals } from "./model.js";
import { newProcCache, processCwd, processOpenFiles, readProcessTable, type ProcInfo, type ProcessTable } from "./procfs.js";
import { readRegistry } from "./registry.js";
import { agentStatus } from "./status.js";
import { transcriptSignals, type SignalOptions } from "./signals.js";
import { matchSession } from "./transcripts/match.js";
import { TelemetryStore } from "../telemetry/store.js";
import { mergeTelemetry } from "../telemetry/signals.js";
import { TranscriptStore } from "./transcripts/store.js";
import { locateAgent, scopeOf, type AgentLocation } from "./locate.js";

/** Per-agent overrides (`agents.yaml`): the SLO layer provides them. */
export interface AgentOverrides {
  model?: string;
  inputUsdPerMTok?: number;
  outputUsdPerMTok?: number;
}

export interface CollectorOptions {
  home: string;
  env: NodeJS.ProcessEnv;
  now?: () => number;
  store?: TranscriptStore;
  procRoot?: string;
  /** Overrides per agent (name, provider); default none. */
  overrides?: (name: string, provider: string) => AgentOverrides | undefined;
  /** Trailing window for rates. */
  windowMs?: number;
  /**
   * On the first refresh, a second sample this far apart gives CPU% (one wait for the whole table,
   * never per agent). 0: no sample pair, CPU% unknown on the first refresh (the pre-tool hook).
   */
  firstSampleMs?: number;
  /** OpenTelemetry events received by `agents watch --otlp-port` (default: read from the home dir's spool). */
  telemetry?: TelemetryStore | null;
}

/** Default gap of the first CPU sample pair. */
export const FIRST_SAMPLE_MS = 250;

/**
 * Composes the fleet: registry + discovery over one process-table pass + resources +
 * transcripts (matched to pids) + stdout growth + status. Keeps the previous CPU sample
 * and stdout sizes between refreshes.
 */
export class FleetCollector {
  readonly store: TranscriptStore;
  private readonly opts: CollectorOptions;
  private readonly now: () => number;
  private prevCpu = new Map<string, { ticks: number; at: number }>();
  private stdoutSeen = new Map<string, { size: number; changedAt: number | null }>();
  /** Owner and command line of each process, read again only when its image changes (see `ProcCache`). */
  private readonly procCache = newProcCache();

  constructor(opts: CollectorOptions) {
    this.opts = opts;
    this.now = opts.now ?? Date.now;
    this.store = opts.store ?? new TranscriptStore({ env: opts.env, now: this.now });
    this.telemetry = opts.telemetry === undefined ? new TelemetryStore(opts.home, this.now) : opts.telemetry;
  }

  readonly telemetry: TelemetryStore | null;

  /** Whether the table holds a discovered agent or a live registered one (cheap: no transcripts). */
  private anyAgent(table: ProcessTable): boolean {
    if (discover(table.procs, process.getuid?.() ?? -1, new Set([process.pid])).length > 0) return true;
    const pids = new Set(table.procs.map((p) => p.pid));
    return readRegistry(this.opts.home).records.some((r) => pids.has(r.pid));
  }

  async refresh(): Promise<FleetSnapshot> {
    const warnings: string[] = [];
    let table = readProcessTable({ procRoot: this.opts.procRoot, cache: this.procCache });
    const gap = this.opts.firstSampleMs ?? FIRST_SAMPLE_MS;
    // the first CPU sample pair needs a gap; with no agent to measure (an empty fleet) there is nothing to wait for
    if (this.prevCpu.size === 0 && gap > 0 && this.anyAgent(table)) {
      this.sampleCpu(table);
      await new Promise((r) => setTimeout(r, gap));
      table = readProcessTable({ procRoot: this.opts.procRoot, cache: this.procCache });
    }
    const now = this.now();
    const byPid = new Map(table.procs.map((p) => [p.pid, p]));
    const children = new Map<number, ProcInfo[]>();
    for (const p of table.procs) {
      const list = children.get(p.ppid);
      if (list) list.push(p);
      else children.set(p.ppid, [p]);
    }
    const reg = readRegistry(this.opts.home);
    warnings.push(...reg.warnings);
    const uid = process.getuid?.() ?? -1;
    const self = new Set<number>([process.pid]);
    const found = discover(table.procs, uid, self);
    const rows = new Map<number, { c: Candidate | null; rec: AgentRecord | null; proc: ProcInfo }>();
    for (const c of found) rows.set(c.proc.pid, { c, rec: null, proc: c.proc });
    for (const rec of reg.records) {
      const proc = byPid.get(rec.pid);
      if (!proc) continue;
      if (rec.start_time !== null && Math.abs(proc.startTime - rec.start_time) > 1000) continue; // reused pid
      rows.set(rec.pid, { c: rows.get(rec.pid)?.c ?? null, rec, proc });
      // a registered process inside a discovered agent (Codex's native child under its npm
      // wrapper) is that agent: one row, the registered one
      let up = byPid.get(proc.ppid);
      for (let depth = 0; up && depth < 8; depth++, up = byPid.get(up.ppid)) {
        const r = rows.get(up.pid);
        if (r && !r.rec && r.c && (rec.provider === "unknown" || rec.provider === r.c.provider)) {
          rows.delete(up.pid);
          rows.get(rec.pid)!.c ??= r.c;
        }
      }
    }

    const hints: Hint[] = [];
    /** Folders of per-process records (Claude's `sessions/`) looked at once per refresh, for all agents. */
    const refreshMemo = new Map<string, unknown>();
    for (const r of rows.values()) {
      const provider = r.rec && r.rec.provider !== "unknown" ? r.rec.provider : (r.c?.provider ?? "unknown");
      const cwd = processCwd(r.proc.pid, this.opts.procRoot);
      if (provider === "aider" && cwd) this.store.addAiderRoot(repoRoot(cwd));
      const tree = this.subtree(r.proc, children);
      const openFiles = tree.flatMap((p) => processOpenFiles(p.pid, this.opts.procRoot));
      const loc = await locateAgent(r.proc.pid, provider, r.proc.startTime, this.opts.env, this.opts.procRoot, { pids: tree.map((p) => p.pid), openFiles, refreshMemo });
      hints.push({ r, provider, cwd, tree, openFiles, loc, startTime: r.proc.startTime });
    }
    // the next read of the process table looks closely only at the fleet's process trees (see ProcCache)
    this.procCache.focus = new Set(hints.flatMap((h) => h.tree.map((p) => p.pid)));
    const scope = scopeOf(hints);
    await this.store.refresh({ agents: scope });
    warnings.push(...this.store.drainWarnings());
    if (this.telemetry) {
      await this.telemetry.refresh();
      warnings.push(...this.telemetry.drainWarnings());
    }
    const sessions = this.store.sessions();
    const claimed = new Set<string>();
    const agents: FleetAgent[] = [];
    // processes whose session is known exactly (their own record, a transcript held open) claim it first
    const exact = (h: Hint) => Number(h.loc.sessionId !== null || sessions.some((s) => h.openFiles.includes(s.path)));
    hints.sort((a, b) => exact(b) - exact(a) || b.r.proc.startTime - a.r.proc.startTime);
    for (const h of hints) {
      const { r, provider, cwd, tree } = h;
      const name = r.rec?.name ?? provider;
      const session = matchSession({ pid: r.proc.pid, provider, cwd, startTime: r.proc.startTime, openFiles: h.openFiles, sessionId: h.loc.sessionId, pinned: h.loc.pinned }, sessions, claimed);
      if (session) claimed.add(session.path);
      const o = this.opts.overrides?.(name, provider);
      const sigOpts: SignalOptions = { now, windowMs: this.opts.windowMs, modelOverride: o?.model };
      if (o && (o.inputUsdPerMTok !== undefined || o.outputUsdPerMTok !== undefined)) sigOpts.priceOverride = { inputUsdPerMTok: o.inputUsdPerMTok, outputUsdPerMTok: o.outputUsdPerMTok };
      const fromTranscript = session ? transcriptSignals(session, this.store.events(session.path), this.store.totals(session.path), sigOpts) : null;
      const tel = this.telemetry ? this.telemetry.eventsFor(fromTranscript?.sessionId ?? null, r.proc.pid) : [];
      const transcript = mergeTelemetry(fromTranscript, tel, sigOpts, tel.length ? this.telemetry?.totalsFor(fromTranscript?.sessionId ?? null, r.proc.pid) : undefined);
      const resource = this.resources(r.proc, tree, table, now);
      const stdout = await resolveStdTarget(r.proc.pid, 1, this.opts.procRoot ? { procRoot: this.opts.procRoot } : {});
      let stdoutPath: string | null = null;
      let stdoutAt: number | null = null;
      if (stdout.ok && stdout.target.kind === "file") {
        stdoutPath = stdout.target.path;
        stdoutAt = this.stdoutGrowth(r.proc, stdout.target.size, stdout.target.mtimeMs, now);
      }
      const lastOutputAt = Math.max(transcript?.lastEventAt ?? -Infinity, stdoutAt ?? -Infinity);
      const agent: FleetAgent = {
        name,
        pid: r.proc.pid,
        provider,
        source: r.rec ? r.rec.source : "discovered",
        confidence: r.rec?.source === "registered" ? 1 : (r.c?.confidence ?? 1),
        reason: r.rec?.source === "registered" ? `registered${r.c ? `; also ${r.c.reason}` : ""}` : (r.c?.reason ?? "registered"),
        command: r.rec?.command || r.proc.argv.join(" "),
        cwd,
        startTime: r.proc.startTime,
        resource,
        transcript,
        lastOutputAt: Number.isFinite(lastOutputAt) ? lastOutputAt : null,
        stdoutPath,
        status: "unknown",
        openIncidents: [],
      };
      agent.status = agentStatus(agent, now);
      agents.push(agent);
    }
    this.sampleCpu(table);
    agents.sort((a, b) => a.pid - b.pid);
    return { takenAt: now, agents, warnings };
  }

  private subtree(root: ProcInfo, children: Map<number, ProcInfo[]>): ProcInfo[] {
    const out = [root];
    for (let i = 0; i < out.length && out.length < 512; i++) out.push(...(children.get(out[i]!.pid) ?? []));
    return out;
  }

  private sampleCpu(table: ProcessTable): void {
    const next = new Map<string, { ticks: number; at: number }>();
    for (const p of table.procs) next.set(`${p.pid}:${p.startTime}`, { ticks: p.cpuTicks, at: table.at });
    this.prevCpu = next;
  }

  /** CPU% and RSS of the agent's process tree (the agent and the tools it runs), like a pod in `kubectl top`. */
  private resources(root: ProcInfo, tree: ProcInfo[], table: ProcessTable, now: number): ResourceSignals {
    let cpu = 0;
    let known = false;
    let rss = 0;
    for (const p of tree) {
      rss += p.rssBytes;
      const prev = this.prevCpu.get(`${p.pid}:${p.startTime}`);
      if (prev && table.at > prev.at) {
        cpu += ((p.cpuTicks - prev.ticks) * table.cpuUnitMs) / (table.at - prev.at);
        known = true;
      }
    }
    return {
      uptimeSec: Math.max(0, Math.round((now - root.startTime) / 1000)),
      cpuPct: known ? Math.max(0, cpu * 100) : null,
      rssBytes: rss,
      children: tree.length - 1,
    };
  }

  /** When the file behind stdout last grew (mtime of the growth we saw, or its mtime if it changed since the process started). */
  private stdoutGrowth(proc: ProcInfo, size: number, mtimeMs: number, now: number): number | null {
    const key = `${proc.pid}:${proc.startTime}`;
    const prev = this.stdoutSeen.get(key);
    let changedAt: number | null;
    // an empty file has had no output at all (its mtime is when it was opened, not output)
    if (size === 0) changedAt = null;
    else if (!prev) changedAt = mtimeMs >= proc.startTime ? mtimeMs : null;
    else if (size !== prev.size) changedAt = Math.min(now, mtimeMs);
    else changedAt = prev.changedAt;
    this.stdoutSeen.set(key, { size, changedAt });
    return changedAt;
  }
}


interface Hint {
  r: { c: Candidate | null; rec: AgentRecord | null; proc: ProcInfo };
  provider: string;
  cwd: string | null;
  tree: ProcInfo[];
  openFiles: string[];
  loc: AgentLocation;
  startTime: number;
}
