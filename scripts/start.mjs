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

const client = join(root, "src", "web", "client");

function stale() {
  const config = Math.max(mtime(join(root, "tsconfig.json")), mtime(join(root, "tsconfig.build.json")));
  for (const src of sources(join(root, "src"))) {
    if (src.startsWith(client)) continue; // the page's script: bundled below, not compiled
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
// the web dashboard's page (src/web/client and the view modules it bundles) when a source is newer than the bundle
const bundle = mtime(join(root, "dist", "src", "web", "assets", "app.js"));
if ([...sources(join(root, "src"))].some((src) => mtime(src) > bundle) || mtime(join(client, "style.css")) > bundle) {
  const r = spawnSync(process.execPath, [join(root, "scripts", "build-web.mjs")], { stdio: "inherit" });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
await import(pathToFileURL(join(root, "dist", "src", "cli.js")).href);
