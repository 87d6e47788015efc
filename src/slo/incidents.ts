import { randomBytes } from "node:crypto";
import { renameSync, statSync } from "node:fs";
import { join } from "node:path";
import { createRequire } from "node:module";
import type { ResourceSignals } from "../fleet/model.js";
import { writeFileAtomicSync } from "../util/atomic.js";
import { ensureHome } from "../util/home.js";
import { withFileLock } from "../util/lock.js";
import { appendStateFile, forEachStateLine } from "../util/statefile.js";
import type { SloName } from "./evaluate.js";

/**
 * Incidents persist in `incidents.jsonl`: append-only events (open, ack, resolve, kill),
 * folded into incident records on read. Appends happen under a flock, after re-reading,
 * so a shell watchdog and a headless `opensre agents watch` never open the same incident
 * twice. Every line is validated against one schema; a line that does not fit is skipped
 * with a warning (never a crash). The file is compacted when it grows: each kept incident
 * becomes one line, and incidents resolved long ago move to `incidents.archive.jsonl`, so
 * the dashboard and the watchdog read a small file however long the history.
 */
export const INCIDENTS_FILE = "incidents.jsonl";
/** Where compaction moves old resolved incidents (and lines that did not parse), verbatim. */
export const INCIDENTS_ARCHIVE = "incidents.archive.jsonl";
/** The same agent + SLO does not re-open within this long of its last resolution. */
export const COOLDOWN_MS = 30 * 60_000;
/** Bytes of the agent's output or transcript kept as evidence. */
export const EVIDENCE_BYTES = 4096;
/**
 * Compaction starts when the file passes this size: about 800 incidents with full evidence,
 * far more than a fleet opens in the days they stay relevant; reading it costs milliseconds.
 */
export const COMPACT_AT_BYTES = 4 * 1024 * 1024;
/** Resolved incidents stay in the live file this long (the default listing shows a day; cool-downs look back 30 min). */
export const KEEP_RESOLVED_MS = 7 * 24 * 60 * 60_000;
/** …and at most this many of them (the most recently resolved). */
export const KEEP_RESOLVED_MAX = 1000;
/** The archive is rotated (to `incidents.archive.1.jsonl`, replacing the previous one) past this size. */
export const ARCHIVE_MAX_BYTES = 64 * 1024 * 1024;
/** A line longer than this is not an incident (evidence is 4 KiB): skipped with a warning, never held in memory. */
export const MAX_LINE_BYTES = 1024 * 1024;
/** Warnings listed one by one per read; the rest are counted. */
export const MAX_WARNINGS = 10;

const EMPTY_RESOURCES = { uptimeSec: null, cpuPct: null, rssBytes: null, children: null };
const EMPTY_SIGNALS = { status: "-", lastOutputAt: null, tokensPerMin: null, usdPerHour: null, spendLastHourUsd: null, errorRatePct: null, model: null };

/**
 * The schemas of `incidents.jsonl`, built on the first line read: zod is loaded then, not at
 * import (every command imports this module; most never read an incident).
 */
function buildSchemas() {
  const { z } = createRequire(import.meta.url)("zod") as typeof import("zod");
  const num = z.number().nullable();
  const resourcesSchema = z.object({ uptimeSec: num.default(null), cpuPct: num.default(null), rssBytes: num.default(null), children: num.default(null) });
  const signalsSchema = z.object({
    status: z.string().default("-"),
    lastOutputAt: z.string().nullable().default(null),
    tokensPerMin: num.default(null),
    usdPerHour: num.default(null),
    spendLastHourUsd: num.default(null),
    errorRatePct: num.default(null),
    model: z.string().nullable().default(null),
  });
  const evidenceSchema = z.object({
    source: z.string().nullable().default(null),
    output: z.string().default(""),
    resources: resourcesSchema.default(EMPTY_RESOURCES),
    signals: signalsSchema.default(EMPTY_SIGNALS),
  });
  const date = (_what: string) => z.string().refine((s) => Number.isFinite(Date.parse(s)), "not a date");
  const killSchema = z.object({ at: date("at"), signal: z.enum(["SIGTERM", "SIGKILL"]), outcome: z.string() });

  /** One incident as stored (the `incident` of an `open` event, with the state folded in by compaction). */
  const incidentSchema = z.object({
    id: z.string().min(1).max(64),
    agent: z.string(),
    pid: z.number().int().positive(),
    start_time: z.number().nullable().default(null),
    provider: z.string().default("-"),
    slo: z.string().min(1),
    detail: z.string(),
    path: z.string().optional(),
    conflict_agents: z.string().optional(),
    opened_at: date("opened_at"),
    acked_at: date("acked_at").nullable().default(null),
    resolved_at: date("resolved_at").nullable().default(null),
    resolution: z.string().nullable().default(null),
    kills: z.array(killSchema).default([]),
    evidence: evidenceSchema.default({ source: null, output: "", resources: EMPTY_RESOURCES, signals: EMPTY_SIGNALS }),
  });

  /** Every line of `incidents.jsonl` is one of these. */
  const incidentEventSchema = z.discriminatedUnion("event", [
    z.object({ event: z.literal("open"), incident: incidentSchema }),
    z.object({ event: z.literal("ack"), id: z.string(), at: date("at") }),
    z.object({ event: z.literal("resolve"), id: z.string(), at: date("at"), resolution: z.string(), detail: z.string().optional() }),
    z.object({ event: z.literal("kill"), id: z.string(), at: date("at"), signal: z.enum(["SIGTERM", "SIGKILL"]), outcome: z.string() }),
  ]);
  return { incidentSchema, incidentEventSchema };
}
let schemaCache: ReturnType<typeof buildSchemas> | undefined;
/** One incident as stored, and every line of `incidents.jsonl` (zod schemas, built on first use). */
export function incidentSchemas(): ReturnType<typeof buildSchemas> {
  return (schemaCache ??= buildSchemas());
}

export interface IncidentEvidence {
  /** File the output came from (stdout file or transcript), or null. */
  source: string | null;
  /** Its last EVIDENCE_BYTES bytes, as text. */
  output: string;
  resources: ResourceSignals;
  /** The golden signals at the time, as shown on the dashboard. */
  signals: {
    status: string;
    lastOutputAt: string | null;
    tokensPerMin: number | null;
    usdPerHour: number | null;
    spendLastHourUsd: number | null;
    errorRatePct: number | null;
    model: string | null;
  };
}

export interface KillRecord {
  at: string;
  signal: "SIGTERM" | "SIGKILL";
  outcome: string;
}

export interface Incident {
  id: string;
  agent: string;
  pid: number;
  /** Process start time (ms since epoch): with the pid, the agent's identity. */
  start_time: number | null;
  provider: string;
  slo: SloName;
  detail: string;
  /** The file, for a write conflict. */
  path?: string;
  /** Identity of the conflicting agents (sorted keys), so a repeat of the same conflict is recognised. */
  conflict_agents?: string;
  opened_at: string;
  acked_at: string | null;
  resolved_at: string | null;
  /** Why it resolved: `recovered`, `agent exited`, `resolved by user`. */
  resolution: string | null;
  kills: KillRecord[];
  evidence: IncidentEvidence;
}

export type IncidentState = "open" | "acked" | "resolved";

export function incidentState(i: Incident): IncidentState {
  return i.resolved_at ? "resolved" : i.acked_at ? "acked" : "open";
}

type IncidentEvent =
  | { event: "open"; incident: Incident }
  | { event: "ack"; id: string; at: string }
  | { event: "resolve"; id: string; at: string; resolution: string; detail?: string }
  | { event: "kill"; id: string; at: string; signal: KillRecord["signal"]; outcome: string };

export function incidentsPath(home: string): string {
  return join(home, INCIDENTS_FILE);
}

export function newIncidentId(): string {
  return randomBytes(4).toString("hex");
}

/** A line parsed and validated, or why it was skipped. */
function parseEvent(line: string): IncidentEvent | string {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    return "a corrupt line (not JSON)";
  }
  const parsed = incidentSchemas().incidentEventSchema.safeParse(raw);
  if (parsed.success) return parsed.data as IncidentEvent;
  const iss = parsed.error.issues[0]!;
  if (iss.path.length === 1 && iss.path[0] === "event") return "an invalid record (unknown event; expected open, ack, resolve or kill)";
  return `an invalid record (${iss.path.length ? iss.path.join(".") + ": " : ""}${iss.message.replace(/^Invalid input: /, "")})`;
}

/** Folds validated events into incidents (oldest first), collecting bounded warnings. */
class Fold {
  readonly byId = new Map<string, Incident>();
  private readonly warnings: string[] = [];
  private more = 0;

  constructor(private readonly file: string) {}

  warn(lineNo: number, why: string): void {
    if (this.warnings.length < MAX_WARNINGS) this.warnings.push(`${this.file}: line ${lineNo}: ${why}`);
    else this.more++;
  }

  line(text: string | null, lineNo: number): void {
    if (text === null) return this.warn(lineNo, `skipped a line over ${MAX_LINE_BYTES} bytes`);
    if (!text.trim()) return;
    const e = parseEvent(text);
    if (typeof e === "string") return this.warn(lineNo, `skipped ${e}`);
    this.apply(e, lineNo);
  }

  apply(e: IncidentEvent, lineNo = 0): void {
    if (e.event === "open") {
      this.byId.set(e.incident.id, e.incident);
      return;
    }
    const inc = this.byId.get(e.id);
    if (!inc) return this.warn(lineNo, `event for unknown incident ${e.id}`);
    if (e.event === "ack") inc.acked_at ??= e.at;
    else if (e.event === "resolve") {
      if (!inc.resolved_at) {
        inc.resolved_at = e.at;
        inc.resolution = e.resolution;
        if (e.detail) inc.detail = e.detail;
      }
    } else inc.kills.push({ at: e.at, signal: e.signal, outcome: e.outcome });
  }

  result(): { incidents: Incident[]; warnings: string[] } {
    const warnings = [...this.warnings];
    if (this.more) warnings.push(`${this.file}: ${this.more} more line${this.more === 1 ? "" : "s"} skipped`);
    return { incidents: [...this.byId.values()], warnings };
  }
}

/** Fold the event log into incidents, oldest first. */
export function foldIncidents(text: string): { incidents: Incident[]; warnings: string[] } {
  const f = new Fold(INCIDENTS_FILE);
  text.split("\n").forEach((line, i) => f.line(Buffer.byteLength(line) > MAX_LINE_BYTES ? null : line, i + 1));
  return f.result();
}

/** Fold one file into `f` (streamed; nothing when it does not exist). */
function foldFile(f: Fold, path: string): { bytes: number; endsWithNewline: boolean } {
  return forEachStateLine(path, MAX_LINE_BYTES, (line, n) => f.line(line === null ? null : line.toString("utf8"), n));
}

export function archivePath(home: string, generation = 0): string {
  return join(home, generation ? INCIDENTS_ARCHIVE.replace(/\.jsonl$/, `.${generation}.jsonl`) : INCIDENTS_ARCHIVE);
}

/**
 * The incidents of the live file (open ones, and those resolved in the last days), or with
 * `archive` every incident ever recorded (the archive too, for `incidents --all`).
 */
export function readIncidents(home: string, opts: { archive?: boolean } = {}): { incidents: Incident[]; warnings: string[] } {
  const all = new Fold(INCIDENTS_FILE);
  if (opts.archive) {
    for (const g of [1, 0]) {
      const f = new Fold(g ? INCIDENTS_ARCHIVE.replace(/\.jsonl$/, `.${g}.jsonl`) : INCIDENTS_ARCHIVE);
      foldFile(f, archivePath(home, g));
      for (const i of f.byId.values()) all.byId.set(i.id, i);
    }
  }
  const live = new Fold(INCIDENTS_FILE);
  foldFile(live, incidentsPath(home));
  for (const i of live.byId.values()) all.byId.set(i.id, i);
  return { incidents: [...all.byId.values()], warnings: live.result().warnings };
}

function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

/**
 * Compact the live file (caller holds the lock): every incident to keep becomes one line with
 * its state folded in; older resolved incidents, events of unknown incidents and lines that do
 * not parse move to the archive verbatim (nothing is deleted, only the archive rotates).
 * Two streamed passes: the first decides per incident from small records, the second folds
 * only what stays. Returns the bytes moved, 0 when there was nothing worth compacting.
 */
const ORPHAN = -1;
const BLANK = -2;

function compactLocked(home: string, now: number): number {
  const path = incidentsPath(home);
  // pass 1: one small record per incident, and per line which incident it belongs to
  const info = new Map<string, { index: number; resolvedAt: number | null }>();
  // per line: the incident it belongs to, ORPHAN (unparsable, or an event for an incident never opened) or BLANK
  let lineOwner = new Int32Array(1024);
  const ids: string[] = [];
  let lines = 0;
  const own = (n: number, owner: number) => {
    if (n >= lineOwner.length) {
      const grown = new Int32Array(Math.max(n + 1, lineOwner.length * 2));
      grown.set(lineOwner);
      lineOwner = grown;
    }
    lineOwner[n] = owner;
  };
  forEachStateLine(path, MAX_LINE_BYTES, (line, n) => {
    lines = n;
    if (line === null) return own(n, ORPHAN);
    if (!line.toString("latin1").trim()) return own(n, BLANK);
    const e = parseEvent(line.toString("utf8"));
    if (typeof e === "string") return own(n, ORPHAN);
    const id = e.event === "open" ? e.incident.id : e.id;
    let rec = info.get(id);
    if (!rec) {
      if (e.event !== "open") return own(n, ORPHAN);
      rec = { index: ids.length, resolvedAt: null };
      ids.push(id);
      info.set(id, rec);
    }
    if (e.event === "open") rec.resolvedAt = e.incident.resolved_at ? Date.parse(e.incident.resolved_at) : null;
    else if (e.event === "resolve" && rec.resolvedAt === null) rec.resolvedAt = Date.parse(e.at);
    own(n, rec.index);
  });
  // keep: open incidents, and the most recently resolved within KEEP_RESOLVED_MS (at most KEEP_RESOLVED_MAX)
  const keep = new Uint8Array(ids.length);
  const resolved: Array<{ index: number; at: number }> = [];
  for (const rec of info.values()) {
    if (rec.resolvedAt === null) keep[rec.index] = 1;
    else if (now - rec.resolvedAt < KEEP_RESOLVED_MS) resolved.push({ index: rec.index, at: rec.resolvedAt });
  }
  resolved.sort((a, b) => b.at - a.at);
  for (const r of resolved.slice(0, KEEP_RESOLVED_MAX)) keep[r.index] = 1;
  let kept = 0;
  for (const k of keep) kept += k;
  let moving = 0;
  for (let n = 1; n <= lines; n++) if (lineOwner[n] === ORPHAN || (lineOwner[n]! >= 0 && !keep[lineOwner[n]!])) moving++;
  // nothing to move and little to fold: leave the file alone
  if (moving === 0 && lines - kept < Math.max(64, kept / 2)) return 0;

  // pass 2: fold what stays, copy the rest to the archive as it was
  const fold = new Fold(INCIDENTS_FILE);
  const out: Buffer[] = [];
  let outBytes = 0;
  let movedBytes = 0;
  const archive = archivePath(home);
  const flush = () => {
    if (!out.length) return;
    if (fileSize(archive) + outBytes > ARCHIVE_MAX_BYTES && fileSize(archive) > 0) renameSync(archive, archivePath(home, 1));
    appendStateFile(archive, Buffer.concat(out, outBytes));
    movedBytes += outBytes;
    out.length = 0;
    outBytes = 0;
  };
  forEachStateLine(path, MAX_LINE_BYTES, (line, n) => {
    const owner = lineOwner[n] ?? ORPHAN;
    if (owner >= 0 && keep[owner]) {
      fold.line(line === null ? null : line.toString("utf8"), n);
      return;
    }
    if (owner === BLANK || line === null) return; // an over-long line is not copied (it was never an incident)
    out.push(line, Buffer.from("\n"));
    outBytes += line.length + 1;
    if (outBytes >= 1024 * 1024) flush();
  });
  flush();
  const rows = [...fold.byId.values()].sort((a, b) => a.opened_at.localeCompare(b.opened_at));
  writeFileAtomicSync(path, rows.map((i) => JSON.stringify(openEvent(i))).join("\n") + (rows.length ? "\n" : ""), 0o600);
  return movedBytes || 1;
}

/**
 * Compact `incidents.jsonl` if it has grown past COMPACT_AT_BYTES (cheap when it has not: one
 * stat). Callers that read it on every refresh (the dashboard, the watchdog) run this first.
 */
export async function compactIncidentsIfLarge(home: string, now = Date.now()): Promise<void> {
  const path = incidentsPath(home);
  if (fileSize(path) <= COMPACT_AT_BYTES) return;
  await withFileLock(path + ".lock", () => {
    if (fileSize(path) > COMPACT_AT_BYTES) compactLocked(home, now);
  });
}

/** Compact now, whatever the size (tests, maintenance). Resolves true when the file was rewritten. */
export async function compactIncidents(home: string, now = Date.now()): Promise<boolean> {
  ensureHome(home);
  const path = incidentsPath(home);
  return withFileLock(path + ".lock", () => compactLocked(home, now) > 0);
}

/** Read-modify-append under the store's lock (the file is read once, streamed, for the fold and its last byte). */
export async function withIncidents<T>(home: string, fn: (incidents: Incident[]) => { result: T; events: IncidentEvent[] }): Promise<T> {
  ensureHome(home);
  const path = incidentsPath(home);
  return withFileLock(path + ".lock", () => {
    if (fileSize(path) > COMPACT_AT_BYTES) compactLocked(home, Date.now());
    const fold = new Fold(INCIDENTS_FILE);
    const { bytes, endsWithNewline } = foldFile(fold, path);
    const { result, events } = fn(fold.result().incidents);
    if (events.length) {
      // a torn last line (crash mid-append) must not swallow the next event
      const prefix = bytes > 0 && !endsWithNewline ? "\n" : "";
      appendStateFile(path, prefix + events.map((e) => JSON.stringify(e)).join("\n") + "\n");
    }
    return result;
  });
}

/** Unique match of a full id or a prefix of at least 4 characters. */
export function findIncident(incidents: readonly Incident[], raw: string): Incident | string {
  const exact = incidents.find((i) => i.id === raw);
  if (exact) return exact;
  const matches = raw.length >= 4 ? incidents.filter((i) => i.id.startsWith(raw)) : [];
  if (matches.length === 1) return matches[0]!;
  if (matches.length > 1) return `ambiguous incident id: ${raw} matches ${matches.length} incidents`;
  return `no such incident: ${raw}`;
}

/** `acknowledged 1a2b3c4d`, or why not (`no such incident: …`, `incident … is already resolved`). */
export type CloseResult = { ok: boolean; message: string };

/**
 * Acknowledge or resolve one incident (by id or unique prefix) under the store's lock:
 * what `incidents ack|resolve` and the live view's `a`/`r` both do.
 */
export async function closeIncident(home: string, raw: string, action: "ack" | "resolve", at = new Date()): Promise<CloseResult> {
  return withIncidents<CloseResult>(home, (incidents) => {
    const found = findIncident(incidents, raw);
    if (typeof found === "string") return { result: { ok: false, message: found }, events: [] };
    if (found.resolved_at) return { result: { ok: false, message: `incident ${found.id} is already resolved` }, events: [] };
    if (action === "ack") {
      if (found.acked_at) return { result: { ok: true, message: `incident ${found.id} was already acknowledged` }, events: [] };
      return { result: { ok: true, message: `acknowledged ${found.id}` }, events: [ackEvent(found.id, at)] };
    }
    return { result: { ok: true, message: `resolved ${found.id}` }, events: [resolveEvent(found.id, at, "resolved by user")] };
  });
}

export function openEvent(incident: Incident): IncidentEvent {
  return { event: "open", incident };
}
export function ackEvent(id: string, at: Date): IncidentEvent {
  return { event: "ack", id, at: at.toISOString() };
}
export function resolveEvent(id: string, at: Date, resolution: string, detail?: string): IncidentEvent {
  return detail ? { event: "resolve", id, at: at.toISOString(), resolution, detail } : { event: "resolve", id, at: at.toISOString(), resolution };
}
export function killEvent(id: string, at: Date, signal: KillRecord["signal"], outcome: string): IncidentEvent {
  return { event: "kill", id, at: at.toISOString(), signal, outcome };
}
export type { IncidentEvent };
