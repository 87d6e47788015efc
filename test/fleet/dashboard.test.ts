import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { copyFileSync, mkdirSync, writeFileSync, appendFileSync, chmodSync } from "node:fs";
import { join } from "node:path";
import { runCli } from "../helpers/cli.js";
import { isolatedEnv, tempDir } from "../helpers/env.js";
import { claudeProjectDir } from "../../src/fleet/transcripts/match.js";
import { FleetCollector } from "../../src/fleet/collector.js";
import { registerAgent, updateRegistry } from "../../src/fleet/registry.js";
import type { FleetSnapshot } from "../../src/fleet/model.js";
import { explainMapping } from "../helpers/explain.js";

const SLEEP = "/bin/sleep";

function fakeAgent(bin: string, cwd: string, args: string[] = ["300"]): ChildProcess {
  return spawn(bin, args, { cwd, stdio: "ignore" });
}

function claudeLines(at: number, id: string) {
  const ts = (d: number) => new Date(at + d).toISOString();
  const base = { cwd: "", sessionId: "11111111-2222-4333-8444-555555555555", version: "2.0.14" };
  return [
    { ...base, type: "user", timestamp: ts(0), message: { role: "user", content: "fix the auth bug" } },
    { ...base, type: "assistant", timestamp: ts(1000), isApiErrorMessage: true, message: { id: `err_${id}`, model: "<synthetic>", role: "assistant", content: [{ type: "text", text: "API Error: 529 overloaded" }], usage: { input_tokens: 0, output_tokens: 0 } } },
    { ...base, type: "assistant", timestamp: ts(2000), requestId: `req_${id}`, message: { id: `msg_${id}`, model: "claude-sonnet-4-5-20250929", role: "assistant", content: [{ type: "text", text: "working" }], stop_reason: "tool_use", usage: { input_tokens: 1000, output_tokens: 500 } } },
  ];
}

function setup(t: { after: (f: () => void) => void }) {
  const dir = tempDir();
  t.after(dir.cleanup);
  const bin = join(dir.path, "bin");
  mkdirSync(bin);
  const shop = join(dir.path, "work", "shop");
  mkdirSync(shop, { recursive: true });
  const env = isolatedEnv(join(dir.path, "home"));
  return { dir: dir.path, bin, shop, env };
}

async function json(env: NodeJS.ProcessEnv): Promise<FleetSnapshot> {
  const r = await runCli(["agents", "--json"], { env });
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as FleetSnapshot;
}

test("a fake Claude Code process is discovered, mapped to its transcript, and its signals are right", async (t) => {
  const { bin, shop, env } = setup(t);
  copyFileSync(SLEEP, join(bin, "claude"));
  const agent = fakeAgent(join(bin, "claude"), shop);
  t.after(() => agent.kill("SIGKILL"));
  const project = join(env.CLAUDE_CONFIG_DIR!, "projects", claudeProjectDir(shop));
  mkdirSync(project, { recursive: true });
  await new Promise((r) => setTimeout(r, 50));
  const lines = claudeLines(Date.now() - 2_000, "a").map((l) => JSON.stringify({ ...l, cwd: shop }));
  writeFileSync(join(project, "11111111-2222-4333-8444-555555555555.jsonl"), lines.join("\n") + "\n");

  const snap = await json(env);
  const row = snap.agents.find((a) => a.pid === agent.pid);
  assert.ok(row, `pid ${agent.pid} discovered: ${JSON.stringify(snap.agents.map((a) => a.pid))}`);
  assert.equal(row.provider, "claude-code");
  assert.equal(row.reason, "executable named claude");
  assert.equal(row.cwd, shop);
  if (!row.transcript) assert.fail(`pid ${agent.pid} not mapped to its transcript; mapping: ${await explainMapping(env, agent.pid!)}`);
  assert.equal(row.transcript.sessionId, "11111111-2222-4333-8444-555555555555");
  assert.equal(row.transcript!.tokensPerMin, 1500 / 5);
  assert.equal(Math.round(row.transcript!.usdPerHour! * 1e6), Math.round(((1000 * 3 + 500 * 15) / 1e6) * 12 * 1e6));
  assert.equal(row.transcript!.errorRatePct, 50);
  assert.equal(row.status, "active");
  assert.ok(row.resource.rssBytes! > 0);
  assert.equal(row.resource.children, 0);

  const table = await runCli(["agents"], { env });
  const header = table.stdout.split("\n")[0]!;
  assert.match(header, /^agent +pid +uptime +cpu% +mem +tokens\/min +\$\/hr +err% +last output +status$/);
  const line = table.stdout.split("\n").find((l) => l.includes(String(agent.pid)))!;
  assert.match(line, /^claude-code +\d+ +\d+s +[\d.]+ +\d+[KM] +300 +\$0\.126 +50\.0 +\d+s ago +active$/);
  assert.match(table.stdout, /prices as of \d{4}-\d\d-\d\d/);
  const wide = await runCli(["agents", "--wide"], { env });
  assert.match(wide.stdout.split("\n")[0]!, /status +latency p50\/p95 +cwd +model +session +provider$/);
});

test("status goes from active to idle when writing stops; an unknown model shows `-` for $", async (t) => {
  const { bin, shop, env, dir } = setup(t);
  copyFileSync(SLEEP, join(bin, "claude"));
  const agent = fakeAgent(join(bin, "claude"), shop);
  t.after(() => agent.kill("SIGKILL"));
  const project = join(env.CLAUDE_CONFIG_DIR!, "projects", claudeProjectDir(shop));
  mkdirSync(project, { recursive: true });
  await new Promise((r) => setTimeout(r, 50));
  const start = Date.now();
  const file = join(project, "11111111-2222-4333-8444-555555555555.jsonl");
  const lines = claudeLines(start - 2_000, "b").map((l) => JSON.stringify({ ...l, cwd: shop }).replace("claude-sonnet-4-5-20250929", "claude-experimental-9"));
  writeFileSync(file, lines.join("\n") + "\n");
  let now = start;
  const collector = new FleetCollector({ home: env.OPENSRE_HOME!, env, now: () => now, firstSampleMs: 50 });
  let row = (await collector.refresh()).agents.find((a) => a.pid === agent.pid)!;
  assert.equal(row.status, "active");
  assert.equal(row.transcript!.unpriced, true);
  assert.equal(row.transcript!.usdPerHour, null);
  now = start + 3 * 60_000; // nothing written for three minutes
  row = (await collector.refresh()).agents.find((a) => a.pid === agent.pid)!;
  assert.equal(row.status, "idle");
  appendFileSync(file, JSON.stringify({ type: "user", cwd: shop, timestamp: new Date(now).toISOString(), message: { role: "user", content: "again" } }) + "\n");
  row = (await collector.refresh()).agents.find((a) => a.pid === agent.pid)!;
  assert.equal(row.status, "active");
  void dir;
});

test("Codex's npm wrapper and native child are one row; desktop apps are excluded", async (t) => {
  const { bin, shop, env, dir } = setup(t);
  const wrapper = join(bin, "codex");
  mkdirSync(join(dir, "vendor"));
  copyFileSync(SLEEP, join(dir, "vendor", "codex"));
  writeFileSync(wrapper, `#!${process.execPath}\nconst c=require("child_process").spawn(${JSON.stringify(join(dir, "vendor", "codex"))},["300"],{stdio:"ignore"});process.on("SIGTERM",()=>{c.kill();process.exit()});setInterval(()=>{},1e6);\n`);
  chmodSync(wrapper, 0o755);
  const w = spawn(wrapper, [], { cwd: shop, stdio: "ignore" });
  t.after(() => w.kill("SIGTERM"));
  const app = join(dir, "Claude.app", "Contents", "MacOS");
  mkdirSync(app, { recursive: true });
  copyFileSync(SLEEP, join(app, "claude"));
  const desktop = fakeAgent(join(app, "claude"), shop);
  t.after(() => desktop.kill("SIGKILL"));
  let rows: FleetSnapshot["agents"] = [];
  for (let i = 0; i < 50; i++) {
    rows = (await json(env)).agents;
    if (rows.some((a) => a.pid === w.pid && a.resource.children === 1)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const codex = rows.filter((a) => a.provider === "codex" && (a.pid === w.pid || a.cwd === shop));
  assert.equal(codex.length, 1, JSON.stringify(codex));
  assert.equal(codex[0]!.pid, w.pid);
  assert.equal(codex[0]!.resource.children, 1);
  assert.equal(rows.some((a) => a.pid === desktop.pid), false);
  const scan = await runCli(["agents", "scan", "--all", "--explain"], { env });
  assert.match(scan.stdout, new RegExp(`${desktop.pid} +- +- +excluded: a macOS desktop app bundle`));
});

test("register, forget, registered rows win, reused pids are not mistaken for the old agent", async (t) => {
  const { env, dir } = setup(t);
  const p = spawn(SLEEP, ["300"], { stdio: "ignore" });
  t.after(() => p.kill("SIGKILL"));
  let r = await runCli(["agents", "register", String(p.pid), "reviewer", "--command", "my-agent --review"], { env });
  assert.equal(r.stdout, `registered reviewer (pid ${p.pid})\n`);
  let snap = await json(env);
  const row = snap.agents.find((a) => a.pid === p.pid)!;
  assert.equal(row.name, "reviewer");
  assert.equal(row.source, "registered");
  assert.equal(row.command, "my-agent --review");
  assert.equal(row.transcript, null);
  assert.equal(row.status, "unknown");
  const line = (await runCli(["agents"], { env })).stdout.split("\n").find((l) => l.startsWith("reviewer"))!;
  assert.match(line, / +- +- +- +- +-$/, "tokens, $, err%, last output and status cannot be observed");

  // the same pid with another start time is a reused pid
  await updateRegistry(env.OPENSRE_HOME!, (recs) => ({ records: recs.map((x) => ({ ...x, start_time: (x.start_time ?? 0) - 60_000 })), result: null }));
  snap = await json(env);
  assert.equal(snap.agents.some((a) => a.pid === p.pid), false);

  r = await runCli(["agents", "forget", String(p.pid)], { env });
  assert.equal(r.stdout, `forgot reviewer (pid ${p.pid})\n`);
  r = await runCli(["agents", "forget", String(p.pid)], { env });
  assert.equal(r.stderr, `pid ${p.pid} is not in the agent registry\n`);
  assert.equal(r.code, 1);
  r = await runCli(["agents", "register", "x1"], { env });
  assert.equal(r.stderr, "invalid pid: x1 is not an integer\n");
  assert.equal(r.code, 2);
  const dead = spawn(SLEEP, ["0"]);
  await new Promise((res) => dead.on("exit", res));
  r = await runCli(["agents", "register", String(dead.pid)], { env });
  assert.equal(r.stderr, `no such process: pid ${dead.pid}\n`);
  void dir;
  void registerAgent;
});

test("an empty fleet says so", async (t) => {
  const { env, dir } = setup(t);
  // a process table with no agent in it: an empty simulated /proc
  mkdirSync(join(dir, "proc"));
  const r = await runCli(["agents"], { env: { ...env, OPENSRE_PROC_ROOT: join(dir, "proc") } });
  assert.equal(r.stdout, "no agents discovered or registered yet\n");
  assert.equal(r.code, 0);
});

test("a broken agents.yaml is reported also when agents are running (the price lookups do not swallow it)", async (t) => {
  const { bin, shop, env } = setup(t);
  copyFileSync(SLEEP, join(bin, "claude"));
  const agent = fakeAgent(join(bin, "claude"), shop);
  t.after(() => agent.kill("SIGKILL"));
  mkdirSync(env.OPENSRE_HOME!, { recursive: true });
  writeFileSync(join(env.OPENSRE_HOME!, "agents.yaml"), "agents: [\n");
  const r = await runCli(["agents"], { env });
  assert.equal(r.code, 0);
  assert.ok(r.stdout.split("\n").some((l) => l.startsWith("claude-code ") && l.includes(String(agent.pid))), r.stdout);
  assert.match(r.stderr, /^warning: .*agents\.yaml: line \d+: .*\(price overrides from it are not applied\)$/m);
});
