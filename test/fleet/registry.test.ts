import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  forgetAgent,
  lookupAgent,
  readRegistry,
  registerAgent,
  registryPath,
  sweepRegistry,
} from "../../src/fleet/registry.js";
import { processStartTime } from "../../src/fleet/procfs.js";
import { OUT_DIR, tempDir } from "../helpers/env.js";

test("register, look up and forget an agent; the record carries the process start time", async (t) => {
  const dir = tempDir();
  t.after(dir.cleanup);
  const rec = await registerAgent(dir.path, { pid: process.pid, name: "claude-code", command: "claude", provider: "claude-code" });
  assert.equal(rec.start_time, processStartTime(process.pid));
  assert.equal(lookupAgent(dir.path, process.pid)?.name, "claude-code");
  assert.equal((await forgetAgent(dir.path, process.pid))?.name, "claude-code");
  assert.equal(lookupAgent(dir.path, process.pid), undefined);
  assert.equal(readFileSync(registryPath(dir.path), "utf8"), "");
});

test("a reused pid (other start time) does not match its old record and is swept", async (t) => {
  const dir = tempDir();
  t.after(dir.cleanup);
  const rec = await registerAgent(dir.path, { pid: process.pid, name: "old-agent" });
  const forged = { ...rec, start_time: (rec.start_time ?? 0) - 60_000 };
  writeFileSync(registryPath(dir.path), JSON.stringify(forged) + "\n");
  assert.equal(lookupAgent(dir.path, process.pid), undefined);
  const removed = await sweepRegistry(dir.path);
  assert.deepEqual(removed.map((r) => r.name), ["old-agent"]);
});

test("corrupt lines are skipped with a warning and kept verbatim on rewrite", async (t) => {
  const dir = tempDir();
  t.after(dir.cleanup);
  writeFileSync(registryPath(dir.path), "{not json\n" + JSON.stringify({ name: "x", pid: -3 }) + "\n");
  const before = readRegistry(dir.path);
  assert.equal(before.records.length, 0);
  assert.equal(before.warnings.length, 2);
  assert.match(before.warnings[0]!, /^agents\.jsonl:1: skipped corrupt line \(/);
  assert.match(before.warnings[1]!, /^agents\.jsonl:2: skipped corrupt line \(pid: /);
  await registerAgent(dir.path, { pid: process.pid, name: "a" });
  const text = readFileSync(registryPath(dir.path), "utf8");
  assert.match(text, /\{not json\n/);
  assert.equal(readRegistry(dir.path).records.length, 1);
});

test("concurrent registrations from many processes are all kept", async (t) => {
  const dir = tempDir();
  t.after(dir.cleanup);
  const mod = join(OUT_DIR, "src", "fleet", "registry.js");
  const children = Array.from({ length: 12 }, (_, i) =>
    spawn(
      process.execPath,
      [
        "--input-type=module",
        "-e",
        `const m = await import(${JSON.stringify(mod)}); for (let k = 0; k < 5; k++) await m.registerAgent(${JSON.stringify(dir.path)}, { pid: ${100000 + i * 10} + k, name: "agent-${i}-" + k });`,
      ],
      { stdio: "inherit" },
    ),
  );
  const codes = await Promise.all(children.map(async (c) => (await once(c, "exit"))[0]));
  assert.deepEqual(codes, Array(12).fill(0));
  const { records, warnings } = readRegistry(dir.path);
  assert.deepEqual(warnings, []);
  assert.equal(records.length, 60);
  assert.equal(new Set(records.map((r) => r.pid)).size, 60);
});
