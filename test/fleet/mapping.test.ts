import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { chmodSync, copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { isolatedEnv, tempDir } from "../helpers/env.js";
import { FleetCollector } from "../../src/fleet/collector.js";
import { claudeProjectDir, CLAUDE_MAX_PROJECT_DIR } from "../../src/fleet/transcripts/paths.js";
import { classify } from "../../src/fleet/discovery.js";
import { processLocationEnv } from "../../src/fleet/procfs.js";
import { registerAgent } from "../../src/fleet/registry.js";

const SID_LIVE = "aaaaaaaa-1111-4111-8111-111111111111";
const SID_DONE = "bbbbbbbb-2222-4222-8222-222222222222";

function setup(t: { after: (f: () => void) => void }) {
  const dir = tempDir();
  t.after(dir.cleanup);
  const bin = join(dir.path, "bin");
  mkdirSync(bin);
  copyFileSync("/bin/sleep", join(bin, "claude"));
  const shop = join(dir.path, "shop");
  mkdirSync(shop);
  const kids: ChildProcess[] = [];
  t.after(() => kids.forEach((k) => k.kill("SIGKILL")));
  const start = (env: NodeJS.ProcessEnv, cwd = shop, exe = join(bin, "claude")) => {
    const k = spawn(exe, ["300"], { cwd, env, stdio: "ignore" });
    kids.push(k);
    return k;
  };
  return { dir: dir.path, bin, shop, start };
}

const line = (sid: string, cwd: string, at: number, extra: object) => JSON.stringify({ sessionId: sid, cwd, timestamp: new Date(at).toISOString(), ...extra });

test("two Claudes in one folder, one of them exited: the live one keeps its own session, also before its first prompt and with its own config dir", async (t) => {
  const { dir, shop, start } = setup(t);
  // the agent's own config dir, which opensre's environment does not name
  const cfg = join(dir, "agent-cfg");
  const project = join(cfg, "projects", claudeProjectDir(shop));
  mkdirSync(project, { recursive: true });
  mkdirSync(join(cfg, "sessions"));
  const agentEnv = { ...process.env, CLAUDE_CONFIG_DIR: cfg, HOME: join(dir, "agent-home") };
  const live = start(agentEnv);
  await new Promise((r) => setTimeout(r, 100));
  const now = Date.now();
  writeFileSync(join(cfg, "sessions", `${live.pid}.json`), JSON.stringify({ pid: live.pid, sessionId: SID_LIVE, cwd: shop, startedAt: now, kind: "interactive" }));
  // the `claude -p` that ran later in the same folder and exited: newer activity, an API error
  writeFileSync(
    join(project, `${SID_DONE}.jsonl`),
    [line(SID_DONE, shop, now + 500, { type: "user", message: { role: "user", content: "say hi" } }), line(SID_DONE, shop, now + 900, { type: "assistant", isApiErrorMessage: true, message: { id: "e1", model: "<synthetic>", content: [{ type: "text", text: "API Error: 529" }] } })].join("\n") + "\n",
  );
  const osre = isolatedEnv(join(dir, "osre"));
  const collector = new FleetCollector({ home: osre.OPENSRE_HOME!, env: osre, firstSampleMs: 0 });
  let row = (await collector.refresh()).agents.find((a) => a.pid === live.pid)!;
  assert.ok(row, "discovered");
  assert.equal(row.transcript, null, "no transcript yet: never the other process's session");

  // its first prompt lands in its own file
  writeFileSync(join(project, `${SID_LIVE}.jsonl`), line(SID_LIVE, shop, now + 200, { type: "user", message: { role: "user", content: "fix the bug" } }) + "\n");
  row = (await collector.refresh()).agents.find((a) => a.pid === live.pid)!;
  assert.equal(row.transcript?.sessionId, SID_LIVE);
  assert.equal(row.transcript?.errorRatePct, null, "not the other session's error rate");

  // a second live Claude in the folder, with the same config dir: each pid its own session
  const second = start(agentEnv);
  await new Promise((r) => setTimeout(r, 100));
  writeFileSync(join(cfg, "sessions", `${second.pid}.json`), JSON.stringify({ pid: second.pid, sessionId: SID_DONE, cwd: shop, startedAt: Date.now() }));
  const snap = await collector.refresh();
  assert.equal(snap.agents.find((a) => a.pid === live.pid)?.transcript?.sessionId, SID_LIVE);
  assert.equal(snap.agents.find((a) => a.pid === second.pid)?.transcript?.sessionId, SID_DONE);
});

test("only the location variables are read from an agent's environment", async (t) => {
  const { start, dir } = setup(t);
  const p = start({ PATH: "/usr/bin:/bin", HOME: join(dir, "h"), CLAUDE_CONFIG_DIR: join(dir, "c"), ANTHROPIC_API_KEY: "sk-ant-secret", GITHUB_TOKEN: "ghp_secret", HOMEWARD: "x" });
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(processLocationEnv(p.pid!), { HOME: join(dir, "h"), CLAUDE_CONFIG_DIR: join(dir, "c") });
});

test("discovery: a process title holding a whole command line is judged by its first word; a registered native child is one row", async (t) => {
  const base = { pid: 1, ppid: 0, uid: 0, comm: "npm", startTime: 0, cpuTicks: 0, rssBytes: 0 };
  assert.equal(classify({ ...base, argv: ["npm i @sourcegraph/amp"] }), null);
  assert.equal(classify({ ...base, argv: ["npm exec @openai/codex"] }), null);
  assert.equal(classify({ ...base, argv: ["/opt/tools/node_modules/.bin/amp"] })?.provider, "amp");

  const { dir, bin, start } = setup(t);
  // Codex's npm wrapper (discovered) and its native child, which the user registers
  mkdirSync(join(dir, "vendor"));
  copyFileSync("/bin/sleep", join(dir, "vendor", "codex"));
  const wrapper = join(bin, "codex");
  writeFileSync(wrapper, `#!${process.execPath}\nconst c=require("child_process").spawn(${JSON.stringify(join(dir, "vendor", "codex"))},["300"],{stdio:"ignore"});process.stdout.write(String(c.pid));process.on("SIGTERM",()=>{c.kill();process.exit()});setInterval(()=>{},1e6);\n`);
  chmodSync(wrapper, 0o755);
  const osre = isolatedEnv(join(dir, "osre"));
  const w = spawn(wrapper, [], { env: osre, stdio: ["ignore", "pipe", "ignore"] });
  t.after(() => w.kill("SIGTERM"));
  const childPid = Number(await new Promise<string>((r) => w.stdout!.once("data", (d: Buffer) => r(d.toString()))));
  await registerAgent(osre.OPENSRE_HOME!, { pid: childPid, name: "reviewer", provider: "codex" });
  const snap = await new FleetCollector({ home: osre.OPENSRE_HOME!, env: osre, firstSampleMs: 0 }).refresh();
  const rows = snap.agents.filter((a) => a.pid === w.pid || a.pid === childPid);
  assert.deepEqual(rows.map((a) => [a.pid, a.name]), [[childPid, "reviewer"]]);
  void start;
});

test("a registered process whose stdout file is empty has no last output", async (t) => {
  const { dir } = setup(t);
  const osre = isolatedEnv(join(dir, "osre"));
  const log = join(dir, "out.log");
  writeFileSync(log, "");
  const fd = (await import("node:fs")).openSync(log, "a");
  const p = spawn("/bin/sleep", ["300"], { stdio: ["ignore", fd, "ignore"] });
  t.after(() => p.kill("SIGKILL"));
  await registerAgent(osre.OPENSRE_HOME!, { pid: p.pid!, name: "quiet" });
  const row = (await new FleetCollector({ home: osre.OPENSRE_HOME!, env: osre, firstSampleMs: 0 }).refresh()).agents.find((a) => a.pid === p.pid)!;
  assert.equal(row.stdoutPath, log);
  assert.equal(row.lastOutputAt, null);
});

test("two config dirs holding a session of the same id: each process gets the file its own record names, never the other's", async (t) => {
  const { dir, start } = setup(t);
  // one Claude with its own config dir and a record of its process; one in the folder opensre's
  // environment names, with no record (an older Claude, or one before its record is written);
  // both sessions carry the same id (a copied config dir, a session resumed elsewhere)
  const SID = "cccccccc-3333-4333-8333-333333333333";
  const shopA = join(dir, "shop-a");
  const shopB = join(dir, "shop-b");
  mkdirSync(shopA);
  mkdirSync(shopB);
  const osre = isolatedEnv(join(dir, "osre"));
  const cfgA = join(dir, "agent-cfg");
  mkdirSync(join(cfgA, "sessions"), { recursive: true });
  const fileA = join(cfgA, "projects", claudeProjectDir(shopA), `${SID}.jsonl`);
  const fileB = join(osre.CLAUDE_CONFIG_DIR!, "projects", claudeProjectDir(shopB), `${SID}.jsonl`);
  mkdirSync(join(fileA, ".."), { recursive: true });
  mkdirSync(join(fileB, ".."), { recursive: true });
  const a = start({ ...process.env, CLAUDE_CONFIG_DIR: cfgA }, shopA);
  const b = start({ PATH: "/usr/bin:/bin", HOME: join(dir, "b-home") }, shopB);
  await new Promise((r) => setTimeout(r, 100));
  const now = Date.now();
  writeFileSync(join(cfgA, "sessions", `${a.pid}.json`), JSON.stringify({ pid: a.pid, sessionId: SID, cwd: shopA, startedAt: now }));
  // B's file is the older one: it is read first, so it comes first among the sessions of that id
  writeFileSync(fileB, line(SID, shopB, now + 100, { type: "user", message: { role: "user", content: "in shop b" } }) + "\n");
  await new Promise((r) => setTimeout(r, 20));
  writeFileSync(fileA, line(SID, shopA, now + 200, { type: "user", message: { role: "user", content: "in shop a" } }) + "\n");
  const collector = new FleetCollector({ home: osre.OPENSRE_HOME!, env: osre, firstSampleMs: 0 });
  let snap = await collector.refresh();
  assert.equal(snap.agents.find((x) => x.pid === a.pid)?.transcript?.transcriptPath, fileA);
  assert.equal(snap.agents.find((x) => x.pid === b.pid)?.transcript?.transcriptPath, fileB, "not left without its session because the other took it");

  // both with a record naming the same id, in their own config dirs: each its own file
  const cfgB = join(dir, "agent-cfg-b");
  mkdirSync(join(cfgB, "sessions"), { recursive: true });
  const fileB2 = join(cfgB, "projects", claudeProjectDir(shopB), `${SID}.jsonl`);
  mkdirSync(join(fileB2, ".."), { recursive: true });
  const b2 = start({ ...process.env, CLAUDE_CONFIG_DIR: cfgB }, shopB);
  await new Promise((r) => setTimeout(r, 100));
  writeFileSync(join(cfgB, "sessions", `${b2.pid}.json`), JSON.stringify({ pid: b2.pid, sessionId: SID, cwd: shopB, startedAt: Date.now() }));
  writeFileSync(fileB2, line(SID, shopB, Date.now(), { type: "user", message: { role: "user", content: "in shop b, second" } }) + "\n");
  b.kill("SIGKILL");
  await new Promise((r) => setTimeout(r, 100));
  snap = await collector.refresh();
  assert.equal(snap.agents.find((x) => x.pid === a.pid)?.transcript?.transcriptPath, fileA);
  assert.equal(snap.agents.find((x) => x.pid === b2.pid)?.transcript?.transcriptPath, fileB2);
});

test("a working directory too long for a folder name: Claude's folder is the first 200 characters and the path's hash, and the live view finds it there", async (t) => {
  // as Claude Code 2.1.332 wrote it for a 241-character working directory
  assert.equal(
    claudeProjectDir(`/tmp/cl-long-KwAb/${"a".repeat(60)}/${"b".repeat(60)}/${"c".repeat(60)}/${"d".repeat(40)}`),
    `-tmp-cl-long-KwAb-${"a".repeat(60)}-${"b".repeat(60)}-${"c".repeat(60)}-lyeidd`,
  );
  assert.equal(claudeProjectDir("/home/dev/shop"), "-home-dev-shop");
  const { dir, start } = setup(t);
  const cwd = join(dir, "x".repeat(70), "y".repeat(70), "z".repeat(70));
  mkdirSync(cwd, { recursive: true });
  assert.ok(claudeProjectDir(cwd).length > CLAUDE_MAX_PROJECT_DIR);
  const osre = isolatedEnv(join(dir, "osre"));
  const project = join(osre.CLAUDE_CONFIG_DIR!, "projects", claudeProjectDir(cwd));
  mkdirSync(project, { recursive: true });
  const p = start({ PATH: "/usr/bin:/bin", HOME: join(dir, "p-home") }, cwd);
  await new Promise((r) => setTimeout(r, 100));
  writeFileSync(join(project, `${SID_LIVE}.jsonl`), line(SID_LIVE, cwd, Date.now(), { type: "user", message: { role: "user", content: "deep down" } }) + "\n");
  const collector = new FleetCollector({ home: osre.OPENSRE_HOME!, env: osre, firstSampleMs: 0 });
  const row = (await collector.refresh()).agents.find((a) => a.pid === p.pid);
  assert.equal(row?.transcript?.sessionId, SID_LIVE);
});
