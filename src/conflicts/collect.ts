import type { FleetCollector } from "../fleet/collector.js";
import type { FleetSnapshot } from "../fleet/model.js";
import type { AgentRef, WriteEvent } from "./model.js";
import { PathNormalizer } from "./paths.js";
import { transcriptWrites } from "./sources.js";

/**
 * Write events from the transcripts: live agents' sessions, and with `history` also
 * sessions no live process owns (named `<provider> session <id>`), for `--since`.
 */
export async function collectTranscriptWrites(collector: FleetCollector, from: number, history: boolean): Promise<{ snapshot: FleetSnapshot; writes: WriteEvent[] }> {
  const snapshot = await collector.refresh();
  const norm = new PathNormalizer();
  const writes = transcriptWrites(snapshot.agents, collector.store, from, norm);
  if (history) {
    const owned = new Set(snapshot.agents.map((a) => a.transcript?.transcriptPath).filter(Boolean));
    for (const s of collector.store.sessions()) {
      if (owned.has(s.path)) continue;
      const ref: AgentRef = { name: `${s.provider} session ${(s.sessionId ?? s.path.replace(/^.*\//, "")).slice(0, 8)}`, pid: 0, startTime: null };
      for (const e of collector.store.events(s.path, from)) {
        if (e.kind === "write") writes.push({ path: norm.normalize(e.path, s.cwd), at: e.t, agent: ref, source: "transcript", via: e.tool });
      }
    }
  }
  return { snapshot, writes };
}
