import { randomBytes } from "node:crypto";
import { appendFileSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { ResourceSignals } from "../fleet/model.js";
import { ensureHome } from "../util/home.js";
import { withFileLock } from "../util/lock.js";
import type { SloName } from "./evaluate.js";

/**
 * Incidents persist in `incidents.jsonl`: append-only events (open, ack, resolve, kill),
 * folded into incident records on read. Appends happen under a flock, after re-reading,
 * so a shell watchdog and a headless `opensre agents watch` never open the same incident
 * twice. Corrupt lines are skipped with a warning.
 */
export const INCIDENTS_FILE = "incidents.jsonl";
/** The same agent + SLO does not re-open within this long of its last resolution. */
export const COOLDOWN_MS = 30 * 60_000;
/** Bytes of the agent's output or transcript kept as evidence. */
export const EVIDENCE_BYTES = 4096;

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

/** Fold the event log into incidents, oldest first. */
export function foldIncidents(text: string): { incidents: Incident[]; warnings: string[] } {
  const byId = new Map<string, Incident>();
  const warnings: string[] = [];
  const lines = text.split("\n");
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    let e: IncidentEvent;
    try {
      e = JSON.parse(line) as IncidentEvent;
      if (typeof e !== "object" || e === null || typeof e.event !== "string") throw new Error("not an event");
    } catch {
      warnings.push(`${INCIDENTS_FILE}: line ${i + 1}: skipped a corrupt line`);
      return;
    }
    if (e.event === "open") {
      if (!e.incident || typeof e.incident.id !== "string") return void warnings.push(`${INCIDENTS_FILE}: line ${i + 1}: open event without an incident`);
      byId.set(e.incident.id, { ...e.incident, kills: e.incident.kills ?? [] });
      return;
    }
    const inc = byId.get(e.id);
    if (!inc) return void warnings.push(`${INCIDENTS_FILE}: line ${i + 1}: event for unknown incident ${String(e.id)}`);
    if (e.event === "ack") inc.acked_at ??= e.at;
    else if (e.event === "resolve") {
      if (!inc.resolved_at) {
        inc.resolved_at = e.at;
        inc.resolution = e.resolution;
        if (e.detail) inc.detail = e.detail;
      }
    } else if (e.event === "kill") inc.kills.push({ at: e.at, signal: e.signal, outcome: e.outcome });
  });
  return { incidents: [...byId.values()], warnings };
}

function readText(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return "";
    throw err;
  }
}

export function readIncidents(home: string): { incidents: Incident[]; warnings: string[] } {
  return foldIncidents(readText(incidentsPath(home)));
}

/** Read-modify-append under the store's lock (the file is read once, for the fold and its last byte). */
export async function withIncidents<T>(home: string, fn: (incidents: Incident[]) => { result: T; events: IncidentEvent[] }): Promise<T> {
  ensureHome(home);
  const path = incidentsPath(home);
  return withFileLock(path + ".lock", () => {
    const text = readText(path);
    const { result, events } = fn(foldIncidents(text).incidents);
    if (events.length) {
      // a torn last line (crash mid-append) must not swallow the next event
      const prefix = text.length && !text.endsWith("\n") ? "\n" : "";
      appendFileSync(path, prefix + events.map((e) => JSON.stringify(e)).join("\n") + "\n", { mode: 0o600 });
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
