import { readIncidents, type Incident } from "../slo/incidents.js";
import type { HistoryStore } from "./store.js";

/**
 * Incidents and their timelines, copied from `incidents.jsonl` (the source of truth the
 * watchdog appends to) into the history store, where they outlive a compaction of the log
 * and can be joined with usage in reports. Idempotent: each incident is upserted whole.
 */
export function syncIncidents(store: HistoryStore, home: string): { incidents: number; warnings: string[] } {
  const { incidents, warnings } = readIncidents(home);
  if (!incidents.length) return { incidents: 0, warnings };
  store.write(() => {
    const put = store.db.prepare(
      `INSERT INTO incidents (id, agent, pid, provider, slo, detail, opened_at, acked_at, resolved_at, resolution)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET detail = excluded.detail, acked_at = excluded.acked_at, resolved_at = excluded.resolved_at, resolution = excluded.resolution`,
    );
    const clear = store.db.prepare("DELETE FROM incident_events WHERE id = ?");
    const event = store.db.prepare("INSERT INTO incident_events (id, seq, event, at, detail) VALUES (?, ?, ?, ?, ?)");
    for (const i of incidents) {
      const opened = ms(i.opened_at);
      if (opened === null || typeof i.agent !== "string" || typeof i.slo !== "string") continue;
      put.run(i.id, i.agent, num(i.pid), str(i.provider), i.slo, str(i.detail), opened, ms(i.acked_at), ms(i.resolved_at), str(i.resolution));
      clear.run(i.id);
      timeline(i).forEach((e, seq) => event.run(i.id, seq, e.event, e.at, e.detail));
    }
  });
  return { incidents: incidents.length, warnings };
}

function timeline(i: Incident): Array<{ event: string; at: number; detail: string | null }> {
  const out: Array<{ event: string; at: number; detail: string | null }> = [];
  const opened = ms(i.opened_at);
  if (opened !== null) out.push({ event: "open", at: opened, detail: str(i.detail) });
  const acked = ms(i.acked_at);
  if (acked !== null) out.push({ event: "ack", at: acked, detail: null });
  for (const k of Array.isArray(i.kills) ? i.kills : []) {
    const at = ms(k.at);
    if (at !== null) out.push({ event: "kill", at, detail: `${k.signal}: ${k.outcome}` });
  }
  const resolved = ms(i.resolved_at);
  if (resolved !== null) out.push({ event: "resolve", at: resolved, detail: str(i.resolution) });
  return out.sort((a, b) => a.at - b.at);
}

function ms(iso: unknown): number | null {
  if (typeof iso !== "string") return null;
  const t = Date.parse(iso);
  return Number.isFinite(t) ? t : null;
}

function str(v: unknown): string | null {
  return typeof v === "string" ? v : null;
}

function num(v: unknown): number | null {
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}
