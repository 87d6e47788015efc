import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { appendFileSync, copyFileSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CliProcess, runCli } from "../helpers/cli.js";
import { isolatedEnv, tempDir, WAIT_MS } from "../helpers/env.js";
import { scope, stopChild } from "../helpers/scope.js";
import { PtySession } from "../helpers/pty.js";
import { claudeProjectDir } from "../../src/fleet/transcripts/match.js";
import { subscribe, publish, closePublishers } from "../../src/bus/client.js";
import { stopHostedBrokers } from "../../src/bus/election.js";
import type { BusMessage } from "../../src/bus/message.js";
import type { Incident } from "../../src/slo/incidents.js";
import { registerAgent } from "../../src/fleet/registry.js";
import { explainMapping } from "../helpers/explain.js";

const SESSION = "11111111-2222-4333-8444-555555555555";

function setup(t: { after: (f: () => unknown) => void }) {
  const { defer } = scope(t);
  const dir = tempDir();
  defer(dir.cleanup);
  const bin = join(dir.path, "bin");
  mkdirSync(bin);
  const shop = join(dir.path, "work", "shop");
  mkdirSync(shop, { recursive: true });
  const home = join(dir.path, "home");
  mkdirSync(home, { recursive: true, mode: 0o700 });
  const env = isolatedEnv(home);
  copyFileSync("/bin/sleep", join(bin, "claude"));
  return { dir: dir.path, bin, shop, home, env, defer };
}

/**
 * A process that looks like Claude Code (an executable named `claude`), stdout into `log`,
 * registered as `auth-fixer`. The SLOs name `auth-fixer`, never the provider: other Claude
 * Code processes on the machine (real ones, or other tests' fakes) must not get incidents.
 */
async function fakeClaude(bin: string, cwd: string, log: string, home: string): Promise<ChildProcess> {
  const fd = openSync(log, "a");
  const child = spawn(join(bin, "claude"), ["300"], { cwd, stdio: ["ignore", fd, "ignore"] });
  await registerAgent(home, { pid: child.pid!, name: "auth-fixer", provider: "claude-code", command: "claude 300" });
  return child;
}

function assistant(cwd: string, t: number, id: string, usage: { input_tokens: number; output_tokens: number }) {
  return {
    cwd,
    sessionId: SESSION,
    version: "2.0.14",
    type: "assistant",
    timestamp: new Date(t).toISOString(),
    requestId: `req_${id}`,
    message: { id: `msg_${id}`, model: "claude-sonnet-4-5-20250929", role: "assistant", content: [{ type: "text", text: "ok" }], stop_reason: "tool_use", usage },
  };
}

function apiError(cwd: string, t: number, id: string) {
  return {
    cwd,
    sessionId: SESSION,
    version: "2.0.14",
    type: "assistant",
    timestamp: new Date(t).toISOString(),
    isApiErrorMessage: true,
    message: { id: `err_${id}`, model: "<synthetic>", role: "assistant", content: [{ type: "text", text: "API Error: 529 overloaded" }], usage: { input_tokens: 0, output_tokens: 0 } },
  };
}

/** A prompt just now: the session is live (its last event is after the process started). */
function prompt(cwd: string) {
  return { cwd, sessionId: SESSION, version: "2.0.14", type: "user", timestamp: new Date().toISOString(), message: { role: "user", content: "go on" } };
}

function writeTranscript(env: NodeJS.ProcessEnv, shop: string, lines: object[]): string {
  const project = join(env.CLAUDE_CONFIG_DIR!, "projects", claudeProjectDir(shop));
  mkdirSync(project, { recursive: true });
  const path = join(project, `${SESSION}.jsonl`);
  writeFileSync(path, [...lines, prompt(shop)].map((l) => JSON.stringify(l)).join("\n") + "\n");
  return path;
}

function incidentsOf(home: string): string[] {
  const p = join(home, "incidents.jsonl");
  return existsSync(p) ? readFileSync(p, "utf8").trim().split("\n") : [];
}

const opened = (out: string) => out.split("\n").filter((l) => / incident [0-9a-f]{8} opened: /.test(l));

test("progress: a silent agent opens an incident (bus frame, notify command, dashboard breach), writing resolves it, cool-down holds, and a restart keeps it", async (t) => {
  const { dir, bin, shop, home, env, defer } = setup(t);
  const log = join(dir, "agent.log");
  writeFileSync(log, "");
  writeFileSync(join(home, "agents.yaml"), "# my SLOs\nagents:\n  auth-fixer:\n    progress_minutes: 0.02 # 1.2 s\n");
  const agent = await fakeClaude(bin, shop, log, home);
  defer(() => stopChild(agent));
  appendFileSync(log, "starting work on the auth bug\n");

  // a bus subscriber (this process hosts the broker) sees every incident frame; the broker stops with the test
  const frames: BusMessage[] = [];
  let probed = false;
  const ac = new AbortController();
  defer(() => stopHostedBrokers());
  defer(() => closePublishers());
  defer(() => ac.abort());
  const sub = (async () => {
    for await (const m of subscribe({ env, signal: ac.signal })) {
      if (m.topic === "incident") frames.push(m);
      else if (m.summary === "probe") probed = true;
    }
  })().catch(() => undefined);
  // subscribed (and hosting) once a frame of our own comes back: only then does the watchdog start
  await publish({ agent: "test:1", topic: "status", summary: "probe" }, { env });
  for (const end = Date.now() + WAIT_MS; !probed; await new Promise((r) => setTimeout(r, 20))) {
    assert.ok(Date.now() < end, "the subscription never received the probe frame");
  }

  const notified = join(dir, "notified.jsonl");
  const watch = new CliProcess(["agents", "watch", "--interval", "0.3", "--notify-command", `cat >> '${notified}'`], { env });
  defer(() => stopChild(watch.child));
  await watch.waitFor((o) => opened(o).length === 1, WAIT_MS, "progress incident opened");
  const line = opened(watch.stdout)[0]!;
  assert.match(line, new RegExp(`^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ incident [0-9a-f]{8} opened: auth-fixer \\(pid ${agent.pid}\\) progress: (\\d+m)?\\d+s no progress \\(threshold: 1s\\)$`));
  const id = / incident ([0-9a-f]{8}) opened/.exec(line)![1]!;

  // the dashboard's status column shows the open breach
  const dash = await runCli(["agents"], { env });
  assert.match(dash.stdout.split("\n").find((l) => l.includes(String(agent.pid)))!, /breach:progress$/);

  // evidence: the last output of the agent and its resources
  const show = await runCli(["agents", "incidents", "show", id], { env });
  assert.equal(show.code, 0, show.stderr);
  assert.match(show.stdout, new RegExp(`^incident ${id}  open\nagent      auth-fixer \\(pid ${agent.pid}, claude-code\\)\nslo        progress\n`));
  assert.match(show.stdout, new RegExp(`evidence   last 30 bytes of ${log.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:\n  starting work on the auth bug\n`));
  assert.match(show.stdout, /resources  cpu [\d.]+%  mem \d+(\.\d)?[KM]/);

  // a restart of the watchdog does not re-open it
  watch.kill("SIGTERM");
  assert.equal((await watch.exited).code, 0);
  assert.match(watch.stdout, /stopped\n$/);
  const watch2 = new CliProcess(["agents", "watch", "--interval", "0.3"], { env });
  defer(() => stopChild(watch2.child));
  await watch2.waitForOutput("watching agent SLOs every 0.3s");
  await new Promise((r) => setTimeout(r, 1500));
  assert.deepEqual(opened(watch2.stdout), []);

  // output again: the incident resolves itself. The agent keeps writing until the watchdog has seen it: with a
  // 1.2 s threshold, one write is "silent" again before a tick on a loaded machine gets to look at it
  const working = setInterval(() => appendFileSync(log, "working\n"), 200);
  try {
    await watch2.waitForOutput(`incident ${id} resolved (recovered): auth-fixer (pid ${agent.pid}) progress`, WAIT_MS);
  } finally {
    clearInterval(working);
  }

  // silent again, within the 30-minute cool-down: no new incident
  await new Promise((r) => setTimeout(r, 2500));
  assert.deepEqual(opened(watch2.stdout), []);
  watch2.kill("SIGTERM");
  await watch2.exited;

  // persisted: one open event, one resolve event
  const events = incidentsOf(home).map((l) => JSON.parse(l) as { event: string; id?: string; incident?: Incident });
  assert.deepEqual(events.map((e) => e.event), ["open", "resolve"]);
  assert.equal(events[0]!.incident!.id, id);
  const listed = await runCli(["agents", "incidents"], { env });
  assert.match(listed.stdout, /^id +agent +pid +slo +state +opened +detail\n/);
  assert.match(listed.stdout, new RegExp(`\n${id} +auth-fixer +${agent.pid} +progress +resolved +(\\d+m)?\\d+s ago +(\\d+m)?\\d+s no progress \\(threshold: 1s\\)\n`));

  // the bus saw the open and the resolve (watch2 handed its frame to our broker before it exited; delivery to the
  // subscription follows); the notify command got the JSON
  for (const end = Date.now() + WAIT_MS; frames.length < 2 && Date.now() < end; ) await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(frames.map((f) => [f.topic, (f.data as { event: string }).event]), [["incident", "open"], ["incident", "resolve"]]);
  assert.equal((frames[0]!.data as { incident: Incident }).incident.id, id);
  assert.match(frames[0]!.summary, new RegExp(`^incident ${id} opened: auth-fixer \\(pid ${agent.pid}\\) progress: `));
  const notes = readFileSync(notified, "utf8").trim().split("\n").map((l) => JSON.parse(l) as Incident & { event: string });
  assert.equal(notes.length, 1, "the first watchdog only saw the open");
  assert.equal(notes[0]!.event, "open");
  assert.equal(notes[0]!.id, id);
  assert.equal(notes[0]!.slo, "progress");
  assert.equal(notes[0]!.pid, agent.pid);
  ac.abort();
  await sub;
});

test("cost: expensive turns open a cost incident with projected and actual spend", async (t) => {
  const { bin, shop, home, env, dir, defer } = setup(t);
  writeFileSync(join(home, "agents.yaml"), "agents:\n  auth-fixer:\n    hourly_budget_usd: 1\n");
  const agent = await fakeClaude(bin, shop, join(dir, "a.log"), home);
  defer(() => stopChild(agent));
  await new Promise((r) => setTimeout(r, 100));
  const now = Date.now();
  // two turns of 100k output tokens at $15/M: $3.00 in the last 5 minutes → $36.00/h projected
  writeTranscript(env, shop, [assistant(shop, now - 120_000, "a", { input_tokens: 0, output_tokens: 100_000 }), assistant(shop, now - 60_000, "b", { input_tokens: 0, output_tokens: 100_000 })]);
  const r = await runCli(["agents", "watch", "--once"], { env });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`incident [0-9a-f]{8} opened: auth-fixer \\(pid ${agent.pid}\\) cost: \\$36\\.00/h projected, \\$3\\.00 spent in the last hour \\(budget: \\$1\\.00/h\\)\n`));
  // still breached: a second evaluation does not open it again
  const again = await runCli(["agents", "watch", "--once"], { env });
  assert.equal(again.stdout, "");
  assert.equal(incidentsOf(home).length, 1);
});

test("errors: a sustained error rate opens an incident; a single short spike does not", async (t) => {
  const { bin, shop, home, env, dir, defer } = setup(t);
  writeFileSync(join(home, "agents.yaml"), "agents:\n  auth-fixer:\n    error_rate_pct: 10\n");
  const agent = await fakeClaude(bin, shop, join(dir, "a.log"), home);
  defer(() => stopChild(agent));
  await new Promise((r) => setTimeout(r, 100));
  const now = Date.now();
  // a spike: an hour of healthy turns, then 4 errors in the last minute
  const healthy = Array.from({ length: 60 }, (_, i) => assistant(shop, now - 3_500_000 + i * 50_000, `h${i}`, { input_tokens: 10, output_tokens: 10 }));
  const spike = [0, 1, 2, 3].map((i) => apiError(shop, now - 50_000 + i * 1000, `s${i}`));
  const path = writeTranscript(env, shop, [...healthy, ...spike, assistant(shop, now - 10_000, "last", { input_tokens: 10, output_tokens: 10 })]);
  const r = await runCli(["agents", "watch", "--once"], { env });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "", "a spike over the fast window only does not page");
  assert.equal((await runCli(["agents", "incidents"], { env })).stdout, "no incidents\n");

  // sustained: half of the turns of the whole hour failed; each failure shares its timestamp with a
  // success, so any window holds as many of one as of the other (the evaluation may start seconds later).
  // Timed from now, not from the test's start: on a loaded machine the runs above take minutes, and the
  // newest pair must still be inside the 5-minute window when the evaluation runs (here: for 290 s).
  const now2 = Date.now();
  const sustained = Array.from({ length: 20 }, (_, i) => [
    assistant(shop, now2 - 2_860_000 + i * 150_000, `k${i}`, { input_tokens: 10, output_tokens: 10 }),
    apiError(shop, now2 - 2_860_000 + i * 150_000, `e${i}`),
  ]).flat();
  writeFileSync(path, [...sustained, prompt(shop)].map((l) => JSON.stringify(l)).join("\n") + "\n");
  const r2 = await runCli(["agents", "watch", "--once"], { env });
  assert.equal(r2.code, 0, r2.stderr);
  const want = new RegExp(`incident [0-9a-f]{8} opened: auth-fixer \\(pid ${agent.pid}\\) errors: 50\\.0% error rate \\(threshold: 10\\.0%\\)\n`);
  if (!want.test(r2.stdout)) {
    // what the fleet shows of this agent, to tell a mapping miss from an evaluation miss
    const snap = JSON.parse((await runCli(["agents", "--json"], { env })).stdout) as { agents: Array<{ pid: number }> };
    const row = snap.agents.find((a) => a.pid === agent.pid);
    assert.fail(`no errors incident (stdout ${JSON.stringify(r2.stdout)}, stderr ${JSON.stringify(r2.stderr)}); the agent now: ${JSON.stringify(row)?.slice(0, 3000)}; incidents: ${incidentsOf(home).join("\n")}; mapping: ${await explainMapping(env, agent.pid!)}`);
  }
});

test("an agent that exits resolves its incident; ack and resolve close the loop by hand", async (t) => {
  const { bin, shop, home, env, dir, defer } = setup(t);
  writeFileSync(join(home, "agents.yaml"), "agents:\n  auth-fixer:\n    progress_minutes: 0.001\n");
  const log = join(dir, "a.log");
  const a1 = await fakeClaude(bin, shop, log, home);
  const a2 = await fakeClaude(bin, shop, join(dir, "b.log"), home);
  defer(() => stopChild(a1));
  defer(() => stopChild(a2));
  await new Promise((r) => setTimeout(r, 300));
  appendFileSync(log, "x\n");
  await new Promise((r) => setTimeout(r, 300));
  const r = await runCli(["agents", "watch", "--once"], { env });
  assert.equal(opened(r.stdout).length, 2, r.stdout + r.stderr);
  const id1 = new RegExp(`incident ([0-9a-f]{8}) opened: auth-fixer \\(pid ${a1.pid}\\)`).exec(r.stdout)![1]!;
  const id2 = new RegExp(`incident ([0-9a-f]{8}) opened: auth-fixer \\(pid ${a2.pid}\\)`).exec(r.stdout)![1]!;

  const ack = await runCli(["agents", "incidents", "ack", id2.slice(0, 6)], { env });
  assert.equal(ack.stdout, `acknowledged ${id2}\n`);
  const again = await runCli(["agents", "incidents", "ack", id2], { env });
  assert.equal(again.stdout, `incident ${id2} was already acknowledged\n`);
  assert.match((await runCli(["agents", "incidents"], { env })).stdout, new RegExp(`\n${id2} +auth-fixer +${a2.pid} +progress +acked +`));
  const res = await runCli(["agents", "incidents", "resolve", id2], { env });
  assert.equal(res.stdout, `resolved ${id2}\n`);
  const twice = await runCli(["agents", "incidents", "resolve", id2], { env });
  assert.equal(twice.stderr, `incident ${id2} is already resolved\n`);
  assert.equal(twice.code, 1);
  const unknown = await runCli(["agents", "incidents", "show", "ffffffff"], { env });
  assert.equal(unknown.stderr, "no such incident: ffffffff\n");
  assert.equal((await runCli(["agents", "incidents", "show"], { env })).stderr, "usage: /agents incidents show <id>\n");

  a1.kill("SIGKILL");
  await new Promise((r) => a1.once("exit", r));
  const r2 = await runCli(["agents", "watch", "--once"], { env });
  assert.equal(r2.code, 0, r2.stderr);
  assert.match(r2.stdout, new RegExp(`incident ${id1} resolved \\(agent exited\\): auth-fixer \\(pid ${a1.pid}\\) progress\n`));
  const all = await runCli(["agents", "incidents", "--json"], { env });
  const list = JSON.parse(all.stdout) as Incident[];
  assert.equal(list.find((i) => i.id === id1)!.resolution, "agent exited");
  assert.equal(list.find((i) => i.id === id2)!.resolution, "resolved by user");
});

test("the interactive shell runs the watchdog in the background and shows a banner when an incident opens", async (t) => {
  const { bin, shop, home, env, dir, defer } = setup(t);
  writeFileSync(join(home, "agents.yaml"), "agents:\n  auth-fixer:\n    progress_minutes: 0.02\nwatchdog:\n  interval_seconds: 0.3\n");
  const agent = await fakeClaude(bin, shop, join(dir, "a.log"), home);
  defer(() => stopChild(agent));
  const shell = new PtySession(env);
  defer(() => shell.stop());
  await shell.waitFor("> ");
  await shell.waitFor(new RegExp(`! incident [0-9a-f]{8} opened: auth-fixer \\(pid ${agent.pid}\\) progress: (\\d+m)?\\d+s no progress \\(threshold: 1s\\)`), WAIT_MS);
  shell.write("/exit\r");
  assert.equal(await shell.exited, 0);
});
