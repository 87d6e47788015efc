#!/usr/bin/env node
// `npm run test:stress [-- files…]`: the test suite N times in a row (STRESS_RUNS, default 20) with
// every core kept busy by a CPU burner, the way a developer's machine is while agents work. The
// suite must hold under load: a test that waits on timing instead of on what it observes fails here.
// With file arguments (paths under dist/test, e.g. dist/test/slo/watchdog.test.js) only those run.
// Stops at the first failing run (STRESS_KEEP_GOING=1 runs them all) and ends with
// `N passed, N failed` (runs). The burners are children of this process and end with it.
import { spawn } from "node:child_process";
import { availableParallelism } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const runs = Number(process.env.STRESS_RUNS ?? 20);
const burners = Number(process.env.STRESS_BURNERS ?? availableParallelism());
const keepGoing = process.env.STRESS_KEEP_GOING === "1";
const files = process.argv.slice(2);
if (!Number.isInteger(runs) || runs < 1) {
  console.error(`STRESS_RUNS must be a positive integer, not ${process.env.STRESS_RUNS}`);
  process.exit(2);
}

// one busy loop per core (like `stress --cpu N`): the tests compete with it for every core
const load = Array.from({ length: burners }, () =>
  spawn(process.execPath, ["-e", "for (;;) {}"], { stdio: "ignore" }),
);
const stopLoad = () => {
  for (const b of load) b.kill("SIGKILL");
};
process.on("exit", stopLoad);
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => process.exit(130));

function runOnce(i) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const args = ["--test", "--test-concurrency=2", "--test-reporter=dot", ...(files.length ? files : [join("dist", "test") + "/"])];
    const child = spawn(process.execPath, args, { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    child.on("close", (code) => {
      durations.push((Date.now() - t0) / 1000);
      const s = ((Date.now() - t0) / 1000).toFixed(0);
      if (code === 0) console.log(`run ${i}/${runs}: passed (${s}s)`);
      else {
        console.log(`run ${i}/${runs}: FAILED (${s}s)`);
        // the failures, as the runner reported them
        const at = out.indexOf("Failed tests:");
        console.log((at >= 0 ? out.slice(at) : out.slice(-8000)).trimEnd());
      }
      resolve(code === 0);
    });
  });
}

console.log(`${runs} runs of ${files.length ? files.join(" ") : "the whole suite"} with ${burners} CPU burner${burners === 1 ? "" : "s"} in the background`);
let passed = 0;
let failed = 0;
const durations = [];
for (let i = 1; i <= runs; i++) {
  if (await runOnce(i)) passed++;
  else {
    failed++;
    if (!keepGoing) break;
  }
}
stopLoad();
const sorted = [...durations].sort((a, b) => a - b);
if (sorted.length) console.log(`run durations: min ${sorted[0].toFixed(0)}s, median ${sorted[Math.floor(sorted.length / 2)].toFixed(0)}s, max ${sorted.at(-1).toFixed(0)}s`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
