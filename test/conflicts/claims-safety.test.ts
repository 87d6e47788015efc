import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runCli } from "../helpers/cli.js";
import { isolatedEnv, tempDir } from "../helpers/env.js";
import { registerAgent } from "../../src/fleet/registry.js";
import { processStartTime } from "../../src/fleet/procfs.js";

function setup(t: { after: (f: () => void) => void }) {
  const dir = tempDir();
  t.after(dir.cleanup);
  const home = join(dir.path, "home");
  mkdirSync(home, { mode: 0o700 });
  const a = spawn("/bin/sleep", ["300"], { stdio: "ignore" });
  const b = spawn("/bin/sleep", ["300"], { stdio: "ignore" });
  t.after(() => a.kill("SIGKILL"));
  t.after(() => b.kill("SIGKILL"));
  return { dir: dir.path, home, env: isolatedEnv(home), a: a.pid!, b: b.pid! };
}

test("a claims file with a bad record keeps its good claims, and is kept aside (never overwritten) when the next claim is written", async (t) => {
  const { home, env, a, b } = setup(t);
  await registerAgent(home, { pid: a, name: "alpha", provider: "claude-code", command: "sleep" });
  await registerAgent(home, { pid: b, name: "beta", provider: "codex", command: "sleep" });
  const original = JSON.stringify({
    branches: {
      main: { name: "alpha", pid: a, start_time: processStartTime(a), claimed_at: "2026-11-25T10:00:00.000Z" },
      release: { name: "gamma", pid: "x", claimed_at: "2026-11-25T10:00:00.000Z" },
    },
    paths: [],
  });
  writeFileSync(join(home, "claims.json"), original);
  const list = await runCli(["agents", "claims"], { env });
  assert.equal(list.code, 0);
  assert.equal(list.stderr, "warning: claims.json: skipped branch release: pid: expected number, received string\n");
  assert.match(list.stdout, new RegExp(`^kind +claim +held by +since\\nbranch +main +alpha \\(${a}\\) +2026-11-25T10:00:00.000Z\\n$`));

  const c = await runCli(["agents", "claim", "feature", "beta"], { env });
  assert.equal(c.code, 0, c.stderr);
  assert.equal(c.stdout, `Branch feature now held by beta (pid ${b}).\n`);
  const aside = readdirSync(home).filter((f) => f.startsWith("claims.json.unreadable-"));
  assert.equal(aside.length, 1);
  assert.equal(c.stderr, `warning: claims.json: skipped branch release: pid: expected number, received string; kept it aside as ${join(home, aside[0]!)}\n`);
  assert.equal(readFileSync(join(home, aside[0]!), "utf8"), original, "the unreadable file is kept as it was");
  const now = JSON.parse(readFileSync(join(home, "claims.json"), "utf8")) as { branches: Record<string, { name: string }> };
  assert.deepEqual(Object.keys(now.branches).sort(), ["feature", "main"], "alpha's claim on main was not lost");

  // a file that is not JSON at all is kept aside too
  writeFileSync(join(home, "claims.json"), "{garbage");
  const d = await runCli(["agents", "claim", "dev", "alpha"], { env });
  assert.equal(d.code, 0, d.stderr);
  assert.match(d.stderr, /^warning: claims\.json: skipped not JSON \(.*\); kept it aside as .*claims\.json\.unreadable-/);
  assert.equal(readdirSync(home).filter((f) => f.startsWith("claims.json.unreadable-")).length, 2);
});

test("branch names that are object-prototype names are data: `constructor` and `__proto__` are claimed and checked like any branch", async (t) => {
  const { dir, home, env, a } = setup(t);
  const repo = join(dir, "repo");
  mkdirSync(join(repo, ".git"), { recursive: true });
  writeFileSync(join(repo, ".git", "HEAD"), "ref: refs/heads/constructor\n");
  const hook = () => runCli(["agents", "hook", "claude-pretool"], { env, input: JSON.stringify({ tool_name: "Edit", tool_input: { file_path: join(repo, "a.py") }, cwd: repo }) });
  const free = await hook();
  assert.deepEqual([free.code, free.stderr], [0, ""], "nobody holds branch constructor");

  await registerAgent(home, { pid: a, name: "alpha", provider: "claude-code", command: "sleep" });
  assert.equal((await runCli(["agents", "claim", "constructor", "alpha"], { env })).stdout, `Branch constructor now held by alpha (pid ${a}).\n`);
  assert.equal((await runCli(["agents", "claim", "__proto__", "alpha"], { env })).stdout, `Branch __proto__ now held by alpha (pid ${a}).\n`);
  const held = await hook();
  assert.equal(held.code, 2);
  assert.equal(held.stderr, `blocked by opensre: branch constructor is claimed by alpha (pid ${a}); ask it to release the claim\n`);
  const list = await runCli(["agents", "claims"], { env });
  assert.match(list.stdout, /\nbranch +constructor +alpha/);
  assert.match(list.stdout, /\nbranch +__proto__ +alpha/);
  assert.equal((await runCli(["agents", "release", "__proto__"], { env })).stdout, "Released __proto__ (was held by alpha).\n");
  assert.equal((await runCli(["agents", "release", "toString"], { env })).stderr, "toString is not currently held by any agent.\n");
});
