import type { Conflict } from "../conflicts/model.js";
import type { FleetAgent } from "../fleet/model.js";
import type { Incident } from "../slo/incidents.js";

/**
 * What the dashboard's server sends its page: plain JSON records, no functions. Every string
 * in here that came from outside (names, paths, models, details, evidence, bus text) is the
 * raw value; the page makes each one inert (`escapeText`) and sets it as text, never as HTML.
 */

/** One agent as the page sees it: the fleet model, without the per-request samples (the charts ask for series). */
export type WebAgent = FleetAgent & { key: string };

/** One SLO that applies to an agent, with the numbers a gauge needs. */
export interface SloGauge {
  /** The agent's key (`pid:startTime`). */
  key: string;
  agent: string;
  pid: number;
  slo: string;
  /** `budget $5.00/h`, `output within 8m`, `errors under 10%`. */
  target: string;
  /** How much of the allowance is used now, percent (100 = at the limit); null when not observable. */
  usedPct: number | null;
  /** How fast the allowance burns: observed rate over allowed rate (1 = exactly on budget); null when not a rate. */
  burn: number | null;
  breached: boolean;
  /** The evaluator's line: `$6.00/h projected, $5.50 spent in the last hour (budget: $5.00/h)`. */
  detail: string;
  /** Windowed objective from the history store (compliance window, error budget left), when it applies. */
  window?: { label: string; budgetLeftPct: number | null; burnRate: number | null } | null;
}

/** An incident as listed (its evidence comes with `GET /api/incidents/<id>`). */
export type IncidentSummary = Omit<Incident, "evidence"> & { hasEvidence: boolean };

export interface BusLine {
  /** Receive order, for the page to skip what it has. */
  seq: number;
  receivedAt: number;
  id: string;
  /** The sender's own time (ISO-8601). */
  timestamp: string;
  agent: string;
  topic: string;
  source: string;
  path: string;
  summary: string;
}

export interface HistoryInfo {
  /** The history store can be read: day and week ranges come from it. */
  available: boolean;
  /** Why not, in the words the user should see (no driver, corrupt database, …); null when available. */
  message: string | null;
  /** When the store was last brought up to date (ms since the epoch); null before the first update ends. */
  updatedAt: number | null;
}

export interface BusInfo {
  /** Subscribed to the local bus. */
  connected: boolean;
  /** Why not, when not. */
  message: string | null;
}

/** One refresh of everything the page shows. */
export interface WebState {
  /** Increases by one with each refresh. */
  seq: number;
  takenAt: number;
  refreshMs: number;
  agents: WebAgent[];
  slos: SloGauge[];
  incidents: IncidentSummary[];
  conflicts: Conflict[];
  sharedWorktrees: string[];
  /** Conflicts are detected among writes of this long. */
  conflictWindowMs: number;
  /** Non-fatal problems of this refresh (corrupt registry line, broken agents.yaml, …). */
  warnings: string[];
  history: HistoryInfo;
  bus: BusInfo;
  /** Prices catalogue date, for the table's footer. */
  pricesAsOf: string;
}

export const RANGES = ["hour", "day", "week"] as const;
export type Range = (typeof RANGES)[number];

/** The charts of one agent: one value per step, null where there was none. */
export interface SeriesResponse {
  range: Range;
  /** Whose series: the live agent's process (hour) or every session that ran under its name (day, week, from the store). */
  agent: string;
  source: "live" | "store";
  stepMs: number;
  /** Start of each step, seconds since the epoch (what the chart library takes). */
  t: number[];
  tokensPerMin: (number | null)[];
  usdPerHour: (number | null)[];
  errorPct: (number | null)[];
  latencyP50Ms: (number | null)[];
  latencyP95Ms: (number | null)[];
  cpuPct: (number | null)[];
  memBytes: (number | null)[];
  /** A plain sentence when part of the range cannot be shown (no history store, …). */
  note: string | null;
}

/** Header that carries the token on actions (a custom header: a page of another origin cannot send it without CORS, which we never grant). */
export const TOKEN_HEADER = "x-opensre-token";
