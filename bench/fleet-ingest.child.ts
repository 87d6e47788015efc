import { appendFileSync, readFileSync } from "node:fs";
import { TranscriptStore } from "../src/fleet/transcripts/store.js";

/**
 * Run by fleet.bench in a fresh process, so the peak RSS it reports is the transcript
 * store's own (plus Node's floor), not the benchmark's file generator.
 * argv: claudeDir homeDir firstPath. Prints one JSON line.
 */
const [claudeDir, home, firstPath] = process.argv.slice(2) as [string, string, string];
const idleRss = process.memoryUsage().rss;
const store = new TranscriptStore({ env: { ...process.env, CLAUDE_CONFIG_DIR: claudeDir, HOME: home } });
const t0 = performance.now();
await store.refresh();
const firstS = (performance.now() - t0) / 1000;
appendFileSync(firstPath, readFileSync(firstPath).subarray(0, 1 << 20).toString().replace(/[^\n]*$/, ""));
const i0 = performance.now();
await store.refresh();
const incMs = performance.now() - i0;
const incBytes = store.lastRefreshBytes;
const n0 = performance.now();
await store.refresh();
const noopMs = performance.now() - n0;
process.stdout.write(
  JSON.stringify({ firstS, incMs, incBytes, noopMs, idleRssMiB: idleRss / 1048576, peakRssMiB: process.resourceUsage().maxRSS / 1024 }) + "\n",
);
