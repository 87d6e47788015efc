import { statSync } from "node:fs";
import type { FleetSnapshot } from "../fleet/model.js";
import { incidentsPath } from "../slo/incidents.js";
import { repoRoot } from "../util/repo.js";
import { syncIncidents } from "./incidents.js";
import { objectiveSli } from "./objectives.js";
import type { Objective, Sli } from "../slo/objectives.js";
import { HistoryIngest, type IngestStats } from "./ingest.js";
import { prune, PRUNE_EVERY_MS } from "./retention.js";
import { HOUR_MS, MINUTE_MS, type HistoryStore } from "./store.js";

/**
 * Keeps the history current from a long-lived process (the watchdog, the interactive
 * shell): each update reads what the transcripts added, records each live agent's process
 * sample (cpu, memory, status) against its session, names sessions after the agent they ran
 * as, copies new incidents, and prunes past retention once an hour.
 */
export class HistoryRecorder {
  readonly ingest: HistoryIngest;
  private lastPrune = 0;
  private lastIncidents = "";

  constructor(
    readonly store: HistoryStore,
    private readonly home: string,
    env: NodeJS.ProcessEnv,
    private readonly now: () => number = Date.now,
  ) {
    this.ingest = new HistoryIngest(store, { env, now, watch: true });
  }

  private running: Promise<unknown> = Promise.resolve();

  /**
   * One update; `snap` (when the caller collected the fleet) adds process samples and agent
   * names. Updates from several loops of one process (the shell's watchdog and its history
   * loop) run one after the other, never interleaved.
   */
  update(snap: FleetSnapshot | null = null): Promise<{ ingest: IngestStats; warnings: string[] }> {
    const next = this.running.catch(() => undefined).then(() => this.updateNow(snap));
    this.running = next;
    return next;
  }

  private async updateNow(snap: FleetSnapshot | null): Promise<{ ingest: IngestStats; warnings: string[] }> {
    const warnings: string[] = [];
    if (snap) for (const a of snap.agents) if (a.provider === "aider" && a.cwd) this.ingest.addAiderRoot(repoRoot(a.cwd));
    const ingest = await this.ingest.refresh();
    warnings.push(...this.ingest.drainWarnings());
    if (snap) this.sample(snap);
    warnings.push(...this.incidents());
    const now = this.now();
    if (now - this.lastPrune >= PRUNE_EVERY_MS) {
      this.lastPrune = now;
      prune(this.store, now);
    }
    return { ingest, warnings };
  }

  private incidents(): string[] {
    let stamp = "";
    try {
      const st = statSync(incidentsPath(this.home));
      stamp = `${st.size}:${st.mtimeMs}:${st.ino}`;
    } catch {
      return [];
    }
    if (stamp === this.lastIncidents) return [];
    this.lastIncidents = stamp;
    return syncIncidents(this.store, this.home).warnings;
  }

  /** An objective's counts over the last `ms`, for the sessions that ran as `agent` (the watchdog's burn-rate alerts). */
  objectiveSli(agent: string, o: Objective, now: number, ms: number): Sli {
    return objectiveSli(this.store, { agent }, o, now, ms);
  }

  /** Record one sample per live agent in its session's minute and hour. */
  sample(snap: FleetSnapshot): void {
    const minute = Math.floor(snap.takenAt / MINUTE_MS);
    const hour = Math.floor(snap.takenAt / HOUR_MS);
    this.store.write(() => {
      const put = (table: string, t: number) =>
        this.store.db.prepare(
          `INSERT INTO ${table} (session, t, samples, cpu_pct_sum, cpu_samples, rss_max, status) VALUES (?, ?, 1, ?, ?, ?, ?)
           ON CONFLICT (session, t) DO UPDATE SET samples = samples + 1, cpu_pct_sum = cpu_pct_sum + excluded.cpu_pct_sum,
             cpu_samples = cpu_samples + excluded.cpu_samples, rss_max = max(coalesce(rss_max, 0), coalesce(excluded.rss_max, 0)), status = excluded.status`,
        );
      const minuteRow = put("proc_minute", minute);
      const hourRow = put("proc_hour", hour);
      for (const a of snap.agents) {
        const sid = a.transcript?.sessionId;
        const key = sid ?? (a.transcript?.transcriptPath || `pid:${a.pid}:${a.startTime ?? 0}`);
        const session = this.store.sessionId({ provider: a.provider, key, sessionId: sid ?? null, parentSessionId: null, cwd: a.cwd });
        this.store.nameSession(session, a.name);
        const cpu = a.resource.cpuPct;
        const status = a.openIncidents.length ? `breach:${a.openIncidents.join(",")}` : a.status;
        minuteRow.run(session, minute, cpu ?? 0, cpu === null ? 0 : 1, a.resource.rssBytes, status);
        hourRow.run(session, hour, cpu ?? 0, cpu === null ? 0 : 1, a.resource.rssBytes, status);
      }
    });
  }
}

/** One recorder per home in a process: the shell's watchdog and its history loop share it. */
const recorders = new Map<string, HistoryRecorder>();

/**
 * The process's recorder for `home`, opening the store on first use. Throws
 * HistoryUnavailableError (no driver) or HistoryError (unusable database): callers that must
 * not fail (the live view, the watchdog) turn that into one warning and go on without history.
 */
export async function sharedRecorder(home: string, env: NodeJS.ProcessEnv): Promise<HistoryRecorder> {
  let r = recorders.get(home);
  if (!r) {
    const { HistoryStore } = await import("./store.js");
    r = new HistoryRecorder(HistoryStore.open(home, env), home, env);
    recorders.set(home, r);
  }
  return r;
}

/** Close the process's recorders (shell exit, tests). */
export function closeRecorders(): void {
  for (const r of recorders.values()) {
    r.ingest.close();
    r.store.close();
  }
  recorders.clear();
}
