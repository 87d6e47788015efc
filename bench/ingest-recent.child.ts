import { TranscriptStore } from "../src/fleet/transcripts/store.js";

/**
 * Run by ingest-recent.bench in a fresh process, so the peak RSS it reports is the store's own
 * (plus Node's floor). argv: claudeDir homeDir. Prints one JSON line.
 */
const [claudeDir, home] = process.argv.slice(2) as [string, string];
const idleRss = process.memoryUsage().rss;
const store = new TranscriptStore({ env: { CLAUDE_CONFIG_DIR: claudeDir, HOME: home } });
const t0 = performance.now();
await store.refresh();
const firstS = (performance.now() - t0) / 1000;
let events = 0;
let requests = 0;
for (const s of store.sessions()) {
  events += store.events(s.path).length;
  requests += store.totals(s.path)!.requests;
}
process.stdout.write(
  JSON.stringify({ firstS, events, requests, keyBytes: store.keyBytes, idleRssMiB: idleRss / 1048576, peakRssMiB: process.resourceUsage().maxRSS / 1024, heapMiB: process.memoryUsage().heapUsed / 1048576 }) + "\n",
);
