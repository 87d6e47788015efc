/**
 * `npm run readme [-- --update] [filter…]`: run the README's checked examples and report which
 * differ from a real run; `--update` writes the real output back into README.md (literals such as
 * pids and paths put back, tables realigned). Review the diff: volatile values (times, sizes) change.
 */
import { readFileSync } from "node:fs";
import { describeMismatch, parseExamples, README, runExample, updateReadme, type ExampleResult } from "./examples.js";

// `node --test dist/test/` loads every file: this one only runs when started as a script
if (!process.env.NODE_TEST_CONTEXT) await main();

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const update = args.includes("--update");
  const filters = args.filter((a) => a !== "--update");
  const all = parseExamples(readFileSync(README, "utf8"));
  const chosen = all.filter((e) => filters.length === 0 || filters.some((f) => e.fixture.includes(f) || String(e.line) === f));
  const results: ExampleResult[] = [];
  let failed = 0;
  for (const example of chosen) {
    let r: ExampleResult;
    try {
      r = await runExample(example);
    } catch (err) {
      // one example that cannot run (a timeout, a fixture error) is reported; the others still run
      failed++;
      process.stdout.write(`ERROR README.md:${example.line} (${example.fixture}): ${(err as Error).message}\n\n`);
      continue;
    }
    results.push(r);
    if (r.ok) process.stdout.write(`ok    README.md:${example.line} (${example.fixture})\n`);
    else {
      failed++;
      process.stdout.write(`DIFF  ${describeMismatch(r)}\n\n`);
    }
  }
  if (update) {
    updateReadme(results);
    process.stdout.write(`README.md: ${results.length} example(s) rewritten from real runs\n`);
  }
  process.stdout.write(`README examples: ${chosen.length - failed} match, ${failed} differ\n`);
  process.exitCode = failed && !update ? 1 : 0;
}
