#!/usr/bin/env node
// `npm start [-- args]`: compile src/ only when a source is newer than its output (tests and
// benchmarks are not built), then run the CLI in this process with the given arguments.
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

function mtime(path) {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return -1;
  }
}

function* sources(dir) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* sources(p);
    else if (e.name.endsWith(".ts") && !e.name.endsWith(".d.ts")) yield p;
  }
}

function stale() {
  const config = Math.max(mtime(join(root, "tsconfig.json")), mtime(join(root, "tsconfig.build.json")));
  for (const src of sources(join(root, "src"))) {
    const out = join(root, "dist", relative(root, src)).replace(/\.ts$/, ".js");
    const built = mtime(out);
    if (built < 0 || built < mtime(src) || built < config) return true;
  }
  return false;
}

if (stale()) {
  const tsc = join(root, "node_modules", "typescript", "bin", "tsc");
  const r = spawnSync(process.execPath, [tsc, "-p", join(root, "tsconfig.build.json")], { stdio: "inherit" });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
await import(pathToFileURL(join(root, "dist", "src", "cli.js")).href);
