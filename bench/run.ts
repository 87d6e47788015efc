import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

/**
 * `npm run bench [-- name…]`: runs every `bench/*.bench.ts` (or those whose name
 * contains one of the arguments). Each prints its own figures next to a baseline
 * measured in the same run; nothing here asserts on time.
 */
const here = dirname(fileURLToPath(import.meta.url));
const filters = process.argv.slice(2);
const files = readdirSync(here)
  .filter((f) => f.endsWith(".bench.js"))
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort();

for (const file of files) {
  const mod = (await import(pathToFileURL(join(here, file)).href)) as { default: () => Promise<void> };
  process.stdout.write(`\n=== ${file.replace(/\.bench\.js$/, "")} ===\n`);
  const started = Date.now();
  await mod.default();
  process.stdout.write(`(${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
}
if (files.length === 0) process.stdout.write("no benchmark matched\n");
