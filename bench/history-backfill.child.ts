import { appendFileSync, readFileSync, statSync, truncateSync } from "node:fs";
import { HistoryStore } from "../src/history/store.js";
import { HistoryIngest } from "../src/history/ingest.js";

/**
 * Run by history.bench in a fresh process, so wall time, CPU (all threads) and peak RSS are
 * the run's own. argv: mode claudeDir home appendPath. Prints one JSON line.
 *  - cold: a backfill into an empty store, then exit (the process is timed whole).
 *  - incremental: a long-lived process on the backfilled store (watching the folders, as the
 *    watchdog does): a first look with nothing new, then 1 MB appended to one transcript
 *    three times, each followed by a refresh (the first re-reads 256 KB before its offset: the
 *    file was parsed by another process; the next ones continue with the parser kept), then a
 *    refresh with nothing new.
 */
const [mode, claudeDir, home, appendPath] = process.argv.slice(2) as [string, string, string, string];
const env = { CLAUDE_CONFIG_DIR: claudeDir, HOME: home + "/nohome" };

if (mode === "cold") {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const store = HistoryStore.open(home, process.env);
  const ingest = new HistoryIngest(store, { env });
  const cold = await ingest.refresh();
  const wallS = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const peakRssMiB = process.resourceUsage().maxRSS / 1024;
  const totals = store.db
    .prepare("SELECT sum(requests) AS requests, sum(input) AS input, sum(output) AS output, sum(cache_write_5m) + sum(cache_write_1h) AS cacheWrite, sum(cache_read) AS cacheRead, sum(usd) AS usd FROM usage_hour")
    .get() as Record<string, number>;
  store.close();
  process.stdout.write(JSON.stringify({ wallS, cpuS: (cpu.user + cpu.system) / 1e6, peakRssMiB, files: cold.files, bytes: cold.bytes, totals }) + "\n");
} else {
  const store = HistoryStore.open(home, process.env);
  const ingest = new HistoryIngest(store, { env, watch: true });
  const f0 = performance.now();
  const first = await ingest.refresh();
  const firstMs = performance.now() - f0;
  const head = readFileSync(appendPath).subarray(0, 1 << 20).toString();
  const mb = head.slice(0, head.lastIndexOf("\n") + 1);
  const originalSize = statSync(appendPath).size;
  const incremental: number[] = [];
  const requests: number[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      appendFileSync(appendPath, mb.replace(/msg_/g, `msg_inc${i}_`).replace(/req_/g, `req_inc${i}_`));
      const a0 = performance.now();
      requests.push((await ingest.refresh()).requests);
      incremental.push(performance.now() - a0);
    }
    const n0 = performance.now();
    await ingest.refresh();
    const noopMs = performance.now() - n0;
    process.stdout.write(JSON.stringify({ firstMs, files: first.files, incremental, requests, noopMs, appended: mb.length }) + "\n");
  } finally {
    truncateSync(appendPath, originalSize); // leave the tree as it was for the next run
    ingest.close();
    store.close();
  }
}
