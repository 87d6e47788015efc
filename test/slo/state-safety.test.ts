import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runCli } from "../helpers/cli.js";
import { isolatedEnv, tempDir } from "../helpers/env.js";
import {
  ARCHIVE_MAX_BYTES,
  COMPACT_AT_BYTES,
  INCIDENTS_ARCHIVE,
  KEEP_RESOLVED_MAX,
  MAX_LINE_BYTES,
  compactIncidents,
  readIncidents,
  type Incident,
} from "../../src/slo/incidents.js";
import { readRegistry, registerAgent } from "../../src/fleet/registry.js";

function setup(t: { after: (f: () => void) => void }) {
  const dir = tempDir();
  t.after(dir.cleanup);
  const home = join(dir.path, "home");
  mkdirSync(home, { mode: 0o700 });
  return { dir: dir.path, home, env: isolatedEnv(home) };
}

function incident(id: string, over: Partial<Incident> = {}, evidenceBytes = 0): Incident {
  const at = new Date().toISOString();
  return {
    id, agent: "auth-fixer", pid: 999_999, start_time: null, provider: "claude-code", slo: "progress", detail: "9m no progress (threshold: 8m)",
    opened_at: at, acked_at: null, resolved_at: null, resolution: null, kills: [],
    evidence: { source: "/tmp/a.log", output: "x".repeat(evidenceBytes), resources: { uptimeSec: 1, cpuPct: 0, rssBytes: 1, children: 0 }, signals: { status: "idle", lastOutputAt: null, tokensPerMin: null, usdPerHour: null, spendLastHourUsd: null, errorRatePct: null, model: null } },
    ...over,
  };
}

const line = (o: object) => JSON.stringify(o) + "\n";

test("every incident record is validated: a wrongly typed or incomplete line is skipped or completed with a warning, and every view keeps working", async (t) => {
  const { home, env } = setup(t);
  const dead = spawnSync("/bin/true").pid!;
  const minimal = { id: "aaaa1111", agent: "auth-fixer", pid: dead, slo: "progress", detail: "silent", opened_at: new Date().toISOString() };
  writeFileSync(
    join(home, "incidents.jsonl"),
    line({ event: "open", incident: minimal }) +
      line({ event: "open", incident: { ...minimal, id: "bbbb2222", kills: 7 } }) +
      line({ event: "ack", id: "cccc3333", at: new Date().toISOString() }) +
      line({ event: "resolve", id: "aaaa1111", at: "yesterday", resolution: "x" }) +
      "{not json\n" +
      line({ event: "explode", id: "aaaa1111" }),
  );
  const expected = [
    "warning: incidents.jsonl: line 2: skipped an invalid record (incident.kills: expected array, received number)",
    "warning: incidents.jsonl: line 3: event for unknown incident cccc3333",
    "warning: incidents.jsonl: line 4: skipped an invalid record (at: not a date)",
    "warning: incidents.jsonl: line 5: skipped a corrupt line (not JSON)",
    "warning: incidents.jsonl: line 6: skipped an invalid record (unknown event; expected open, ack, resolve or kill)",
  ].join("\n") + "\n";

  const list = await runCli(["agents", "incidents"], { env });
  assert.equal(list.code, 0, list.stderr);
  assert.equal(list.stderr, expected);
  assert.match(list.stdout, /\naaaa1111 +auth-fixer +\d+ +progress +open +\d+s ago +silent\n$/);
  const show = await runCli(["agents", "incidents", "show", "aaaa1111"], { env });
  assert.equal(show.code, 0, show.stderr);
  assert.match(show.stdout, /\nagent      auth-fixer \(pid \d+, -\)\n/);
  assert.match(show.stdout, /\nevidence   no output file or transcript was readable\n$/);
  const dash = await runCli(["agents"], { env });
  assert.equal(dash.code, 0, dash.stderr);
  assert.ok(dash.stderr.includes(expected), dash.stderr);
  const once = await runCli(["agents", "watch", "--once"], { env });
  assert.equal(once.code, 0, once.stderr);
  assert.match(once.stdout, /incident aaaa1111 resolved \(agent exited\): auth-fixer \(pid \d+\) progress\n/);
});

test("a growing incidents file is compacted: open and recent incidents stay, older ones move to the archive, nothing is lost", async (t) => {
  const { home, env } = setup(t);
  const now = Date.now();
  const iso = (ms: number) => new Date(ms).toISOString();
  let text = "";
  const ids: string[] = [];
  // more recently resolved incidents than are kept, some resolved long ago, two open, each with evidence
  for (let i = 0; i < KEEP_RESOLVED_MAX + 150; i++) {
    const id = `r${String(i).padStart(7, "0")}`;
    ids.push(id);
    text += line({ event: "open", incident: incident(id, { opened_at: iso(now - 3_600_000 + i) }, 2500) });
    text += line({ event: "resolve", id, at: iso(now - 3_000_000 + i * 1000), resolution: "recovered" });
  }
  for (let i = 0; i < 300; i++) {
    const id = `l${String(i).padStart(7, "0")}`;
    ids.push(id);
    text += line({ event: "open", incident: incident(id, { opened_at: iso(now - 20 * 86_400_000) }, 2500) });
    text += line({ event: "ack", id, at: iso(now - 19 * 86_400_000) });
    text += line({ event: "resolve", id, at: iso(now - 10 * 86_400_000), resolution: "agent exited" });
  }
  for (const id of ["open0001", "open0002"]) {
    ids.push(id);
    text += line({ event: "open", incident: incident(id, { pid: process.pid }, 2500) });
    text += line({ event: "kill", id, at: iso(now), signal: "SIGTERM", outcome: "Sent SIGTERM, but process may still be running after 7.0s." });
  }
  text += "{torn line with no end\n";
  text += "x".repeat(MAX_LINE_BYTES + 10) + "\n";
  writeFileSync(join(home, "incidents.jsonl"), text);
  assert.ok(text.length > COMPACT_AT_BYTES, "the file starts past the compaction size");

  // the dashboard compacts it on its way
  const dash = await runCli(["agents"], { env });
  assert.equal(dash.code, 0, dash.stderr);
  const live = readFileSync(join(home, "incidents.jsonl"), "utf8").trim().split("\n");
  assert.equal(live.length, KEEP_RESOLVED_MAX + 2, "one line per kept incident: two open and the most recent resolved");
  assert.ok(statSync(join(home, "incidents.jsonl")).size < COMPACT_AT_BYTES);
  const kept = readIncidents(home).incidents;
  assert.deepEqual(kept.filter((i) => !i.resolved_at).map((i) => [i.id, i.kills.length]), [["open0001", 1], ["open0002", 1]]);
  assert.equal(kept.filter((i) => i.resolved_at).length, KEEP_RESOLVED_MAX);
  assert.ok(kept.every((i) => !i.id.startsWith("l")), "the long-resolved ones left the live file");
  assert.ok(existsSync(join(home, INCIDENTS_ARCHIVE)));
  assert.ok(readFileSync(join(home, INCIDENTS_ARCHIVE), "utf8").includes("{torn line with no end\n"), "a line that does not parse is kept in the archive");

  // every incident is still there for --all and show, with its state
  const all = readIncidents(home, { archive: true }).incidents;
  assert.deepEqual(all.map((i) => i.id).sort(), [...ids].sort());
  const old = all.find((i) => i.id === "l0000007")!;
  assert.equal(old.resolution, "agent exited");
  assert.ok(old.acked_at);
  const json = await runCli(["agents", "incidents", "--all", "--json"], { env });
  assert.equal((JSON.parse(json.stdout) as Incident[]).length, ids.length);
  const show = await runCli(["agents", "incidents", "show", "l0000007"], { env });
  assert.match(show.stdout, /^incident l0000007  resolved\n/);

  // a second compaction finds nothing to do; the watchdog and the dashboard read the small file
  assert.equal(await compactIncidents(home), false);
  const once = await runCli(["agents", "watch", "--once"], { env });
  assert.equal(once.code, 0, once.stderr);
  assert.ok(ARCHIVE_MAX_BYTES > statSync(join(home, INCIDENTS_ARCHIVE)).size);
});

test("state files are never followed through a symbolic link nor read from a FIFO", async (t) => {
  const { dir, home, env } = setup(t);
  const outside = join(dir, "precious.txt");
  writeFileSync(outside, "precious\n");
  symlinkSync(outside, join(home, "incidents.jsonl"));
  const r = await runCli(["agents", "incidents", "resolve", "abcd1234"], { env });
  assert.equal(r.code, 1);
  assert.equal(r.stderr, `error: ${join(home, "incidents.jsonl")} is a symbolic link; refusing to follow it (remove it, state files are never links)\n`);
  const conflict = await runCli(["agents", "incidents"], { env });
  assert.equal(conflict.code, 1);
  const dash = await runCli(["agents"], { env });
  assert.equal(dash.code, 0, "the dashboard still runs");
  assert.match(dash.stderr, /warning: cannot read incidents: .*incidents\.jsonl is a symbolic link; refusing to follow it/);
  assert.equal(readFileSync(outside, "utf8"), "precious\n", "the link's target is untouched");

  symlinkSync(outside, join(home, "agents.jsonl"));
  const reg = await runCli(["agents", "register", String(process.pid), "x"], { env });
  assert.equal(reg.code, 1);
  assert.match(reg.stderr, /agents\.jsonl is a symbolic link; refusing to follow it/);
  assert.equal(readFileSync(outside, "utf8"), "precious\n");

  // a FIFO where a state file should be: refused at once, never waited on
  const fifoHome = join(dir, "fifo-home");
  mkdirSync(fifoHome, { mode: 0o700 });
  assert.equal(spawnSync("mkfifo", [join(fifoHome, "incidents.jsonl")]).status, 0);
  assert.equal(spawnSync("mkfifo", [join(fifoHome, "claims.json")]).status, 0);
  const fenv = isolatedEnv(fifoHome);
  const list = await runCli(["agents", "incidents"], { env: fenv, timeoutMs: 60_000 });
  assert.equal(list.stderr, `error: ${join(fifoHome, "incidents.jsonl")} is a FIFO, not a regular file; refusing to use it\n`);
  const claims = await runCli(["agents", "claims"], { env: fenv, timeoutMs: 60_000 });
  assert.equal(claims.code, 0);
  assert.match(claims.stderr, /^warning: claims\.json: .*claims\.json is a FIFO, not a regular file; refusing to use it; ignoring it\n$/);
});

test("a home another user could tamper with is refused with a clear message and never chmod-ed; an existing home keeps its mode", async (t) => {
  const { dir } = setup(t);
  const open = join(dir, "open");
  mkdirSync(open);
  chmodSync(open, 0o1777);
  const r = await runCli(["agents", "budget", "a", "5"], { env: isolatedEnv(open) });
  assert.equal(r.code, 1);
  assert.equal(r.stderr, `cannot write agents.yaml: refusing to use ${open} for state: other users can write to it (mode 1777); run chmod go-w ${open}, or set OPENSRE_HOME to a directory only you can write\n`);
  assert.equal(statSync(open).mode & 0o7777, 0o1777, "its mode is the user's to change");
  const list = await runCli(["agents", "incidents"], { env: isolatedEnv(open) });
  assert.equal(list.code, 1);
  assert.match(list.stderr, /refusing to use .* for state: other users can write to it/);

  if (process.getuid?.() === 0) {
    const theirs = join(dir, "theirs");
    mkdirSync(theirs);
    chmodSync(theirs, 0o777);
    chownSync(theirs, 65534, 65534);
    const o = await runCli(["agents", "register", String(process.pid), "x"], { env: isolatedEnv(theirs) });
    assert.equal(o.stderr, `error: refusing to use ${theirs} for state: it belongs to another user (uid 65534); set OPENSRE_HOME to a directory of your own\n`);
    assert.deepEqual(readdirSync(theirs), [], "nothing written there");
  } else {
    t.diagnostic("another user's directory: needs root to create one (chown)");
  }

  const mine = join(dir, "mine");
  mkdirSync(mine);
  chmodSync(mine, 0o750);
  assert.equal((await runCli(["agents", "budget", "a", "5"], { env: isolatedEnv(mine) })).code, 0);
  assert.equal(statSync(mine).mode & 0o777, 0o750, "an existing home keeps its mode");
  const fresh = join(dir, "new", "deeper", "home");
  assert.equal((await runCli(["agents", "budget", "a", "5"], { env: isolatedEnv(fresh) })).code, 0);
  assert.equal(statSync(fresh).mode & 0o777, 0o700, "a home we create is 0700");
  assert.equal(statSync(join(dir, "new")).mode & 0o777, 0o755, "its missing parents get the usual mode");
});

test("a binary line in agents.jsonl is kept byte for byte when the registry is rewritten", async (t) => {
  const { home } = setup(t);
  const binary = Buffer.from([0xff, 0xfe, 0x00, 0x1b, 0x5b, 0x32, 0x4a, 0xc3, 0x28, 0x7b]);
  writeFileSync(join(home, "agents.jsonl"), Buffer.concat([binary, Buffer.from("\n{\"name\":\"x\",\"pid\":-1}\n")]));
  const before = readRegistry(home);
  assert.deepEqual(before.warnings.map((w) => w.replace(/ \(.*$/, "")), ["agents.jsonl:1: skipped corrupt line", "agents.jsonl:2: skipped corrupt line"]);
  assert.match(before.warnings[0]!, /\(not UTF-8 text\)$/);
  const p = spawn("/bin/sleep", ["300"], { stdio: "ignore" });
  t.after(() => p.kill("SIGKILL"));
  await registerAgent(home, { pid: p.pid!, name: "a" });
  const after = readFileSync(join(home, "agents.jsonl"));
  assert.ok(after.includes(Buffer.concat([Buffer.from("\n"), binary, Buffer.from("\n")])), "the binary line survives the rewrite unchanged");
  assert.equal(readRegistry(home).records.length, 1);
});

test("temp files left by a writer killed mid-write are cleaned up by the next write", async (t) => {
  const { home, env } = setup(t);
  // a real writer killed with SIGKILL after creating its temp file
  const killed = spawn(process.execPath, ["-e", `require("fs").writeFileSync(${JSON.stringify(join(home, ".agents.yaml."))} + process.pid + "." + Date.now() + ".0.tmp", "half"); process.stdout.write("ok"); setInterval(() => {}, 1e6)`], { stdio: ["ignore", "pipe", "ignore"] });
  await new Promise((r) => killed.stdout!.once("data", r));
  killed.kill("SIGKILL");
  await new Promise((r) => killed.once("exit", r));
  const live = spawn("/bin/sleep", ["300"], { stdio: "ignore" });
  t.after(() => live.kill("SIGKILL"));
  const fresh = `.agents.yaml.${live.pid}.${Date.now()}.0.tmp`; // a writer still at work
  const ancient = `.agents.yaml.${live.pid}.${Date.now() - 3_600_000}.0.tmp`; // a live pid, but an hour old: reused
  writeFileSync(join(home, fresh), "");
  writeFileSync(join(home, ancient), "");
  writeFileSync(join(home, ".other.yaml.1.1.0.tmp"), "");
  assert.equal(readdirSync(home).filter((f) => f.startsWith(".agents.yaml.")).length, 3);
  assert.equal((await runCli(["agents", "budget", "a", "5"], { env })).code, 0);
  assert.deepEqual(readdirSync(home).filter((f) => f.endsWith(".tmp")).sort(), [fresh, ".other.yaml.1.1.0.tmp"].sort());
});
