#!/usr/bin/env node
// Moves every pinned agent in conformance/pins.json to its newest version on the npm registry,
// then runs the conformance suite against them: a format change in a new release fails the day it ships.
import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const file = join(root, "conformance", "pins.json");
const pins = JSON.parse(readFileSync(file, "utf8"));
for (const pkg of Object.keys(pins)) {
  const latest = execFileSync("npm", ["view", pkg, "version"], { encoding: "utf8" }).trim();
  if (latest !== pins[pkg]) process.stdout.write(`${pkg}: ${pins[pkg]} -> ${latest}\n`);
  pins[pkg] = latest;
}
writeFileSync(file, JSON.stringify(pins, null, 2) + "\n");
const r = spawnSync("npm", ["run", "test:agents"], { cwd: root, stdio: "inherit" });
process.exit(r.status ?? 1);
