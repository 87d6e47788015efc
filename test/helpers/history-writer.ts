import { HistoryStore } from "../../src/history/store.js";
import { HistoryIngest } from "../../src/history/ingest.js";

/**
 * A separate process that ingests transcripts into a history store, for the crash and
 * two-writer tests: `node history-writer.js --history-writer <home> <env-json> <slice-bytes>`.
 * Prints `ready` before it starts and `done <requests>` when it finishes. Imported by the
 * test runner like any file under test/, it does nothing without its flag.
 */
if (process.argv[2] === "--history-writer") {
  const [home, envJson, slice] = process.argv.slice(3) as [string, string, string];
  const store = HistoryStore.open(home, process.env);
  const ingest = new HistoryIngest(store, { env: JSON.parse(envJson) as NodeJS.ProcessEnv, sliceBytes: Number(slice) });
  process.stdout.write("ready\n");
  const stats = await ingest.refresh();
  store.close();
  process.stdout.write(`done ${stats.requests}\n`);
}
