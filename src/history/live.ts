import type { FleetSnapshot } from "../fleet/model.js";
import type { BudgetStatus, Objective } from "../slo/objectives.js";
import type { HistoryRecorder } from "./recorder.js";
import { objectiveStatus } from "./objectives.js";

/**
 * Error budgets and burn rates for the live view (`opensre top`, `/agents --watch`): read from
 * the history store, never in the way of drawing. The view asks for an agent's figures on
 * every frame and gets what was last computed; the store is brought up to date with the
 * transcripts (and the snapshot's process samples) and the figures are recomputed in the
 * background, at most once every LIVE_OBJECTIVES_EVERY_MS, and only while some agent on
 * screen has a windowed objective. Without the driver, or with an unusable database, the
 * figures say why and the view goes on.
 */

/** How often the live view refreshes the store and its budget figures: budgets over days move slowly; a refresh reads new transcript bytes. */
export const LIVE_OBJECTIVES_EVERY_MS = 30_000;

export type LiveBudget = { state: "ready"; statuses: BudgetStatus[] } | { state: "pending" } | { state: "off"; reason: string };

interface Wanted {
  agent: string;
  objectives: Objective[];
}

export class LiveObjectives {
  private readonly figures = new Map<string, BudgetStatus[]>();
  private readonly wanted = new Map<string, Wanted>();
  private snap: FleetSnapshot | null = null;
  private last = -Infinity;
  private off: string | null = null;

  /**
   * @param recorder opens the process's recorder (null: history is off, `reason()` says why)
   */
  constructor(
    private readonly recorder: () => Promise<HistoryRecorder | null>,
    private readonly reason: () => string,
    private readonly now: () => number = Date.now,
  ) {}

  /** The latest fleet snapshot (its process samples go into the store with the next update). */
  snapshot(snap: FleetSnapshot): void {
    this.snap = snap;
  }

  /** An agent's budgets as last computed; asks for a background update when they are due. */
  budgets(agent: string, objectives: Objective[]): LiveBudget {
    if (objectives.length === 0) return { state: "ready", statuses: [] };
    const key = `${agent}\0${JSON.stringify(objectives)}`;
    this.wanted.set(key, { agent, objectives });
    if (this.now() - this.last >= LIVE_OBJECTIVES_EVERY_MS || (!this.figures.has(key) && this.off === null)) void this.update();
    if (this.off !== null) return { state: "off", reason: this.off };
    const got = this.figures.get(key);
    return got ? { state: "ready", statuses: got } : { state: "pending" };
  }

  /** One background update: store brought up to date, then every wanted agent's figures. Never throws; while one runs, it is the one returned. */
  update(): Promise<void> {
    if (!this.running) this.running = this.run().finally(() => (this.running = null));
    return this.running;
  }

  private running: Promise<void> | null = null;

  private async run(): Promise<void> {
    this.last = this.now();
    try {
      const r = await this.recorder();
      if (!r) {
        this.off = this.reason();
        return;
      }
      await r.update(this.snap);
      const now = this.now();
      for (const [key, w] of this.wanted) this.figures.set(key, w.objectives.map((o) => objectiveStatus(r.store, { agent: w.agent }, o, now)));
      this.wanted.clear();
      this.off = null;
    } catch (err) {
      this.off = (err as Error).message.split("\n")[0]!;
    }
  }
}
