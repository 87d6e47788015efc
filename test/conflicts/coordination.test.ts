import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { appendFileSync, copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runCli } from "../helpers/cli.js";
import { isolatedEnv, tempDir } from "../helpers/env.js";
import { claudeProjectDir } from "../../src/fleet/transcripts/match.js";
import { registerAgent } from "../../src/fleet/registry.js";
import { RepoWatcher, procAttribution } from "../../src/conflicts/watcher.js";
import type { WriteEvent } from "../../src/conflicts/model.js";
import type { FleetAgent } from "../../src/fleet/model.js";
import { processStartTime } from "../../src/fleet/procfs.js";

function setup(t: { after: (f: () => void) => void }) {
  const dir = tempDir();
  t.after(dir.cleanup);
  const repo = join(dir.path, "shop");
  mkdirSync(join(repo, ".git"), { recursive: true });
  writeFileSync(join(repo, ".git", "HEAD"), "ref: refs/heads/main\n");
  const home = join(dir.path, "home");
  mkdirSync(home);
  const bin = join(dir.path, "bin");
  mkdirSync(bin);
  copyFileSync("/bin/sleep", join(bin, "claude"));
  return { dir: dir.path, repo, home, bin, env: isolatedEnv(home) };
}

function sleeper(t: { after: (f: () => void) => void }, bin = "/bin/sleep", cwd?: string): ChildProcess {
  const p = spawn(bin, ["300"], { stdio: "ignore", cwd });
  t.after(() => p.kill("SIGKILL"));
  return p;
}

test("claims: exact messages, one holder per branch, expiry when the holder exits, path claims", async (t) => {
  const { home, env } = setup(t);
  const a = sleeper(t);
  const b = sleeper(t);
  await registerAgent(home, { pid: a.pid!, name: "alpha", provider: "claude-code", command: "sleep" });
  await registerAgent(home, { pid: b.pid!, name: "beta", provider: "codex", command: "sleep" });
  const run = (...args: string[]) => runCli(["agents", ...args], { env });

  assert.equal((await run("claim", "main")).stderr, "Usage: /agents claim <branch> <agent-name>\n");
  assert.equal((await run("claim", "main", "gamma")).stderr, "Agent 'gamma' not found in registry. Use /agents to see registered agents.\n");
  assert.equal((await run("claim", "main", "alpha")).stdout, `Branch main now held by alpha (pid ${a.pid}).\n`);
  const taken = await run("claim", "main", "beta");
  assert.equal(taken.stderr, `Cannot claim: main is already held by alpha (pid ${a.pid}). Use /agents release first.\n`);
  assert.equal(taken.code, 1);
  assert.equal((await run("release")).stderr, "Usage: /agents release <branch>\n");
  assert.equal((await run("release", "feature")).stderr, "feature is not currently held by any agent.\n");
  assert.equal((await run("release", "main")).stdout, "Released main (was held by alpha).\n");
  assert.equal((await run("claim", "main", "beta")).stdout, `Branch main now held by beta (pid ${b.pid}).\n`);

  // the holder exits: its claim expires
  b.kill("SIGKILL");
  await new Promise((r) => b.once("exit", r));
  assert.equal((await run("claims")).stdout, "no claims\n");
  assert.equal((await run("claim", "main", "alpha")).stdout, `Branch main now held by alpha (pid ${a.pid}).\n`);
  const p = await run("claim", "--path", "/srv/shop/services/**", "alpha");
  assert.equal(p.stdout, `Path /srv/shop/services/** now held by alpha (pid ${a.pid}).\n`);
  assert.match((await run("claims")).stdout, /^kind +claim +held by +since\nbranch +main +alpha \(\d+\) +\S+\npath +\/srv\/shop\/services\/\*\* +alpha \(\d+\) +\S+\n$/);
});

test("wait graph: exact messages, a tree with wait times, and cycles refused before they are stored", async (t) => {
  const { home, env } = setup(t);
  const run = (...args: string[]) => runCli(["agents", ...args], { env });
  assert.equal((await run("graph")).stdout, "no registered agents\n");
  const [a, b, c] = [sleeper(t), sleeper(t), sleeper(t)];
  await registerAgent(home, { pid: a.pid!, name: "a", provider: "claude-code", command: "sleep" });
  await registerAgent(home, { pid: b.pid!, name: "b", provider: "codex", command: "sleep" });
  await registerAgent(home, { pid: c.pid!, name: "c", provider: "aider", command: "sleep" });

  assert.equal((await run("wait", String(a.pid))).stderr, "usage: /agents wait <pid> --on <other-pid>\n");
  assert.equal((await run("wait", "x1", "--on", "2")).stderr, "invalid pid: x1\n");
  assert.equal((await run("wait", "12", "--on", "-3")).stderr, "invalid other-pid: -3\n");
  assert.equal((await run("wait", String(a.pid), "--on", String(a.pid))).stderr, `invalid pid: ${a.pid} waiting for itself\n`);
  assert.equal((await run("wait", "999999", "--on", String(a.pid))).stderr, "pid 999999 is not in the agent registry\n");
  assert.equal((await run("wait", String(a.pid), "--on", "999999")).stderr, "pid 999999 is not in the agent registry\n");

  assert.equal((await run("wait", String(a.pid), "--on", String(b.pid))).stdout, `a (${a.pid}) now waits on b (${b.pid}).\n`);
  assert.equal((await run("wait", String(b.pid), "--on", String(c.pid))).stdout, `b (${b.pid}) now waits on c (${c.pid}).\n`);
  const cycle = await run("wait", String(c.pid), "--on", String(a.pid));
  assert.equal(cycle.stderr, `agent dependency cycle detected: c (${c.pid}) -> a (${a.pid}) -> b (${b.pid}) -> c (${c.pid}).\n`);
  assert.equal(cycle.code, 1);
  const graph = await run("graph");
  assert.match(graph.stdout, new RegExp(`^c \\(${c.pid}\\) \\[active\\]\\n└─ b \\(${b.pid}\\) \\[waiting on c\\] for \\d+s\\n   └─ a \\(${a.pid}\\) \\[waiting on b\\] for \\d+s\\n$`));
  assert.equal((await run("wait", String(a.pid), "--clear")).stdout, `a (${a.pid}) no longer waits.\n`);
});

test("the Claude Code pre-tool hook blocks an edit another live agent just made, lets the first writer through, and honours path claims", async (t) => {
  const { repo, home, bin, env } = setup(t);
  const other = sleeper(t, join(bin, "claude"), repo);
  await new Promise((r) => setTimeout(r, 200));
  const target = join(repo, "app.py");
  const session = "33333333-4444-4555-8666-777777777777";
  const project = join(env.CLAUDE_CONFIG_DIR!, "projects", claudeProjectDir(repo));
  mkdirSync(project, { recursive: true });
  const base = { cwd: repo, sessionId: session, version: "2.0.14" };
  const at = Date.now() - 2000;
  const transcript = join(project, `${session}.jsonl`);
  writeFileSync(
    transcript,
    [
      { ...base, type: "assistant", timestamp: new Date(at).toISOString(), requestId: "r1", message: { id: "m1", model: "claude-sonnet-4-5-20250929", role: "assistant", content: [{ type: "tool_use", id: "tu1", name: "Write", input: { file_path: target, content: "x" } }], usage: { input_tokens: 1, output_tokens: 1 } } },
      { ...base, type: "user", timestamp: new Date(at + 100).toISOString(), message: { role: "user", content: [{ tool_use_id: "tu1", type: "tool_result", content: "ok" }] }, toolUseResult: { filePath: target } },
    ]
      .map((l) => JSON.stringify(l))
      .join("\n") + "\n",
  );
  // a wide window: on a loaded machine seconds pass between the write and the hook's decision
  const hook = (input: object) => runCli(["agents", "hook", "claude-pretool", "--window", "120"], { env, input: JSON.stringify(input), cwd: repo });

  const blocked = await hook({ hook_event_name: "PreToolUse", tool_name: "Edit", tool_input: { file_path: "app.py" }, cwd: repo, transcript_path: "/elsewhere.jsonl" });
  assert.equal(blocked.code, 2);
  const m = new RegExp(`^blocked by opensre: ${target} was written by claude-code \\(pid ${other.pid}\\) ([2-9]|\\d\\d+)s ago; wait (\\d+)s or coordinate on /agents bus\\n$`).exec(blocked.stderr);
  assert.ok(m, blocked.stderr);
  assert.equal(Number(m[1]) + Number(m[2]), 120, "the wait is what is left of the 120 s window");
  // the agent that made the write is not blocked by itself
  const self = await hook({ tool_name: "Edit", tool_input: { file_path: target }, cwd: repo, transcript_path: transcript });
  assert.equal(self.code, 0, self.stderr);
  // a file nobody touched: the first writer goes through, silently
  const first = await hook({ tool_name: "Write", tool_input: { file_path: join(repo, "fresh.py") }, cwd: repo });
  assert.deepEqual([first.code, first.stdout, first.stderr], [0, "", ""]);
  // not a write tool
  assert.equal((await hook({ tool_name: "Bash", tool_input: { command: "ls" }, cwd: repo })).code, 0);
  // garbage on stdin never blocks the agent
  const junk = await runCli(["agents", "hook", "claude-pretool"], { env, input: "not json" });
  assert.deepEqual([junk.code, junk.stderr], [0, "opensre hook: stdin is not hook JSON; allowing\n"]);

  // a path claim by another live agent blocks
  await registerAgent(home, { pid: other.pid!, name: "owner", provider: "claude-code", command: "claude" });
  assert.equal((await runCli(["agents", "claim", "--path", join(repo, "lib", "**"), "owner"], { env })).code, 0);
  const claimed = await hook({ tool_name: "Edit", tool_input: { file_path: join(repo, "lib", "x.py") }, cwd: repo });
  assert.equal(claimed.code, 2);
  assert.equal(claimed.stderr, `blocked by opensre: ${join(repo, "lib", "x.py")} is claimed by owner (pid ${other.pid}) (claim ${join(repo, "lib", "**")}); ask it to release the claim\n`);
});

test("the disk watcher attributes a change only to a process holding the file open for writing; otherwise it is unattributed", async (t) => {
  const { repo } = setup(t);
  const held = join(repo, "held.log");
  const holder = spawn(process.execPath, ["-e", `const fs=require("fs");const fd=fs.openSync(${JSON.stringify(held)},"a");process.stdout.write("ready\\n");setInterval(()=>{},1e6)`], { stdio: ["ignore", "pipe", "ignore"] });
  t.after(() => holder.kill("SIGKILL"));
  await new Promise((r) => holder.stdout!.once("data", r));
  const agent: FleetAgent = {
    name: "aider", pid: holder.pid!, provider: "aider", source: "registered", confidence: 1, reason: "", command: "aider", cwd: repo,
    startTime: processStartTime(holder.pid!) ?? null, resource: { uptimeSec: 1, cpuPct: 0, rssBytes: 1, children: 0 }, transcript: null,
    lastOutputAt: null, stdoutPath: null, status: "idle", openIncidents: [],
  };
  const seen: WriteEvent[] = [];
  const w = new RepoWatcher((e) => seen.push(e), () => procAttribution([agent]));
  t.after(() => w.close());
  await w.setRoots([repo]);
  appendFileSync(held, "line\n");
  writeFileSync(join(repo, "stray.py"), "x\n");
  for (let i = 0; i < 100 && !(seen.some((e) => e.path === held) && seen.some((e) => e.path.endsWith("stray.py"))); i++) await new Promise((r) => setTimeout(r, 50));
  const h = seen.find((e) => e.path === held)!;
  assert.deepEqual([h.agent?.name, h.agent?.pid, h.via], ["aider", holder.pid, "open for writing"]);
  const s = seen.find((e) => e.path === join(repo, "stray.py"))!;
  assert.equal(s.agent, null, "no evidence: unattributed, never blamed on every agent in the repo");
});
