import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, chownSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runCli } from "../helpers/cli.js";
import { CLI, isolatedEnv, tempDir } from "../helpers/env.js";
import { registerAgent, readRegistry } from "../../src/fleet/registry.js";
import { buildRegistry } from "../../src/commands/index.js";
import { runWords } from "../../src/shell/run.js";
import { PassThrough } from "node:stream";
import { hasExited } from "../../src/slo/kill.js";

function setup(t: { after: (f: () => void) => void }) {
  const dir = tempDir();
  t.after(dir.cleanup);
  const home = join(dir.path, "home");
  mkdirSync(home, { recursive: true });
  return { dir: dir.path, home, env: isolatedEnv(home) };
}

test("kill asks first; No keeps the process; yes sends SIGTERM and forgets the registered agent", async (t) => {
  const { home, env } = setup(t);
  const p = spawn("/bin/sleep", ["300"], { stdio: "ignore" });
  t.after(() => p.kill("SIGKILL"));
  await registerAgent(home, { pid: p.pid!, name: "reviewer", provider: "claude-code", command: "sleep 300" });

  const no = await runCli(["agents", "kill", String(p.pid)], { env, input: "n\n" });
  assert.equal(no.stdout, `About to SIGTERM reviewer (pid ${p.pid}). Confirm? [y/N] Cancelled.\n`);
  assert.equal(no.code, 1);
  assert.equal(hasExited(p.pid!), false);

  const yes = await runCli(["agents", "kill", String(p.pid)], { env, input: "y\n" });
  assert.match(yes.stdout, new RegExp(`^About to SIGTERM reviewer \\(pid ${p.pid}\\)\\. Confirm\\? \\[y/N\\] Sent SIGTERM\\. Process exited after \\d\\.\\ds\\.\\n$`));
  assert.equal(yes.code, 0);
  assert.equal(readRegistry(home).records.length, 0, "the registry entry goes once the process exited");
});

test("kill escalates from SIGTERM to SIGKILL on a process that ignores SIGTERM, and records it on its open incident", async (t) => {
  const { home, env } = setup(t);
  const stubborn = spawn(process.execPath, ["-e", "process.on('SIGTERM',()=>{}); process.stdout.write('ready\\n'); setInterval(()=>{},1000)"], { stdio: ["ignore", "pipe", "ignore"] });
  t.after(() => stubborn.kill("SIGKILL"));
  await new Promise((r) => stubborn.stdout!.once("data", r));
  await registerAgent(home, { pid: stubborn.pid!, name: "codex", provider: "codex", command: "node" });
  // an open incident on this agent
  const incident = { id: "0badc0de", agent: "codex", pid: stubborn.pid, start_time: null, provider: "codex", slo: "progress", detail: "9m no progress (threshold: 8m)", opened_at: new Date().toISOString(), acked_at: null, resolved_at: null, resolution: null, kills: [], evidence: { source: null, output: "", resources: { uptimeSec: 1, cpuPct: 0, rssBytes: 1, children: 0 }, signals: { status: "idle", lastOutputAt: null, tokensPerMin: null, usdPerHour: null, spendLastHourUsd: null, errorRatePct: null, model: null } } };
  writeFileSync(join(home, "incidents.jsonl"), JSON.stringify({ event: "open", incident }) + "\n");

  const r = await runCli(["agents", "kill", String(stubborn.pid), "--force"], { env });
  assert.match(r.stdout, /^Sent SIGTERM, then SIGKILL\. Process exited after 5\.\ds\.\n$/);
  assert.equal(r.code, 0);
  // the kill command saw it exit; this process learns it when it reaps its child
  if (stubborn.exitCode === null && stubborn.signalCode === null) await new Promise((r) => stubborn.once("exit", r));
  assert.equal(stubborn.signalCode, "SIGKILL");
  const lines = readFileSync(join(home, "incidents.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { event: string; signal?: string; outcome?: string });
  assert.equal(lines[1]!.event, "kill");
  assert.equal(lines[1]!.signal, "SIGKILL");
  assert.equal(lines[1]!.outcome, r.stdout.trim());
  const show = await runCli(["agents", "incidents", "show", "0badc0de"], { env });
  assert.match(show.stdout, /\nkill       \S+: Sent SIGTERM, then SIGKILL\. Process exited after 5\.\ds\.\n/);
});

test("kill: usage, bad pid, no such process, permission denied, and never itself", async (t) => {
  const { dir, home, env } = setup(t);
  assert.equal((await runCli(["agents", "kill"], { env })).stderr, "usage: /agents kill <pid> [--force] [--any]\n");
  const bad = await runCli(["agents", "kill", "12x"], { env });
  assert.equal(bad.stderr, "invalid pid: 12x is not an integer\n");
  assert.equal(bad.code, 2);
  const gone = spawnSync("/bin/true");
  const none = await runCli(["agents", "kill", String(gone.pid), "--force"], { env });
  assert.equal(none.stderr, `no such process: pid ${gone.pid}\n`);
  assert.equal(none.code, 1);

  if (process.getuid?.() === 0) {
    // as an unprivileged user, against a root process
    const target = spawn("/bin/sleep", ["300"], { stdio: "ignore" });
    t.after(() => target.kill("SIGKILL"));
    // the unprivileged user gets a home of its own (a home others can write to is refused)
    chmodSync(dir, 0o755);
    chownSync(home, 65534, 65534);
    const r = spawnSync("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "--", process.execPath, CLI, "agents", "kill", String(target.pid), "--force", "--any"], { env, encoding: "utf8" });
    assert.equal(r.stderr, `permission denied: cannot signal pid ${target.pid}\n`);
    assert.equal(r.status, 1);
    assert.equal(hasExited(target.pid!), false);
  } else {
    const r = await runCli(["agents", "kill", "1", "--force", "--any"], { env });
    assert.equal(r.stderr, "refusing to kill pid 1 (the init process)\n");
    assert.equal(r.code, 1);
  }

  // in-process: the command refuses the pid of the process running it
  const out = new PassThrough();
  const err = new PassThrough();
  let text = "";
  err.on("data", (d: Buffer) => (text += d.toString()));
  const code = await runWords(buildRegistry(), ["agents", "kill", String(process.pid), "--force"], {
    home,
    env,
    stdin: new PassThrough(),
    stdout: out,
    stderr: err,
    signal: new AbortController().signal,
    interactive: false,
    onKey: () => undefined,
    prompt: async () => "",
  });
  assert.equal(code, 1);
  assert.equal(text, "refusing to kill the opensre process itself\n");
});
