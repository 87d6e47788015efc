import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { appendFileSync, chmodSync, mkdirSync, openSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CLI, isolatedEnv, tempDir, WAIT_MS } from "../helpers/env.js";
import { PtySession } from "../helpers/pty.js";
import { claudeProjectDir } from "../../src/fleet/transcripts/match.js";
import { escapeText } from "../../src/term/sanitize.js";

/**
 * Hostile text from every outside source (process names and argv, registered names, cwd,
 * transcripts, files in the home dir, agents.yaml, git HEAD, agent output) fed through
 * every view, with real processes and files; the raw bytes each command writes must hold
 * no control sequence but SGR colours, and each field must be shown visibly escaped.
 */

/** Clipboard write, window title, clear screen, full reset, C1 CSI and OSC, bidi override, conceal, BEL, CR. */
const H = "\x1b]52;c;cHduZWQ=\x07\x1b]0;owned\x07\x1b[2J\x1bc\u009b2J\u009d0;t\u009c\u202eevil\u202c\x1b[8mhid\x1b[0m\x07\r";
/** The same without what a path or a YAML key cannot hold on one line. */
const HP = H.replace(/[\r\n]/g, "");
const E = escapeText(H);
const EP = escapeText(HP);
/** Transcript adapters trim text: the trailing CR goes. */
const ET = escapeText(H.trim());

/** Every ESC starts an SGR sequence that does not conceal; nothing else a terminal acts on. */
function assertInert(buf: Buffer, what: string): string {
  const text = new TextDecoder("utf-8", { fatal: true }).decode(buf);
  const rest = text.replace(/\x1b\[([0-9;]*)m/g, (_m, params: string) => {
    assert.ok(!params.split(";").includes("8"), `${what}: a concealing SGR got through`);
    return "";
  });
  const bad = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/.exec(rest);
  assert.equal(bad, null, `${what}: raw control ${bad ? JSON.stringify(bad[0]) : ""} at ${bad?.index} in ${JSON.stringify(rest.slice(Math.max(0, (bad?.index ?? 0) - 60), (bad?.index ?? 0) + 20))}`);
  return text;
}

interface Raw {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run `opensre <args>`, capture the raw bytes of stdout and stderr, assert both inert. */
async function cli(args: string[], env: NodeJS.ProcessEnv, input = ""): Promise<Raw> {
  const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ["pipe", "pipe", "pipe"] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on("data", (d: Buffer) => out.push(d));
  child.stderr.on("data", (d: Buffer) => err.push(d));
  child.stdin.end(input);
  const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  const code = await new Promise<number | null>((resolve) => child.on("close", (c) => resolve(c)));
  clearTimeout(timer);
  const what = `opensre ${args.join(" ")}`;
  return { code, stdout: assertInert(Buffer.concat(out), `${what} (stdout)`), stderr: assertInert(Buffer.concat(err), `${what} (stderr)`) };
}

/** A long-running command whose raw output is collected. */
function live(args: string[], env: NodeJS.ProcessEnv): { child: ChildProcess; out: () => Buffer; err: () => Buffer; waitFor: (s: string) => Promise<void> } {
  const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout!.on("data", (d: Buffer) => out.push(d));
  child.stderr!.on("data", (d: Buffer) => err.push(d));
  const all = () => Buffer.concat(out).toString("utf8");
  return {
    child,
    out: () => Buffer.concat(out),
    err: () => Buffer.concat(err),
    async waitFor(s) {
      const deadline = Date.now() + WAIT_MS;
      while (!all().includes(s)) {
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`timed out waiting for ${JSON.stringify(s)}; got ${JSON.stringify(all())}\n${Buffer.concat(err).toString()}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
  };
}

const SESSION = "33333333-4444-4555-8666-777777777777";

/**
 * A Claude-Code-looking agent (a node script named `claude`, hostile argv) in a git worktree
 * whose directory name, branch and files are hostile, stdout into a log, with a transcript
 * whose model, prompts, tools and errors are hostile.
 */
async function hostileAgent(t: { after: (f: () => void) => void }) {
  const dir = tempDir();
  t.after(dir.cleanup);
  const home = join(dir.path, "home");
  mkdirSync(home);
  const env = isolatedEnv(home);
  const bin = join(dir.path, "bin");
  mkdirSync(bin);
  const script = join(bin, "claude");
  writeFileSync(script, "setInterval(() => {}, 1e6);\n");
  const shop = join(dir.path, `shop${HP}`);
  mkdirSync(join(shop, ".git"), { recursive: true });
  writeFileSync(join(shop, ".git", "HEAD"), `ref: refs/heads/main${HP}\n`);
  const log = join(dir.path, "agent.log");
  const fd = openSync(log, "a");
  const agent = spawn(process.execPath, [script, H], { cwd: shop, stdio: ["ignore", fd, "ignore"] });
  t.after(() => agent.kill("SIGKILL"));
  await new Promise((r) => setTimeout(r, 200));
  appendFileSync(log, `working ${H}\n`);
  const project = join(env.CLAUDE_CONFIG_DIR!, "projects", claudeProjectDir(shop));
  mkdirSync(project, { recursive: true });
  const transcript = join(project, `${SESSION}.jsonl`);
  const line = (o: object, at = Date.now()) => JSON.stringify({ cwd: shop, sessionId: SESSION, version: "2.0.14", timestamp: new Date(at).toISOString(), ...o }) + "\n";
  const file = join(shop, `auth${HP}.py`);
  writeFileSync(
    transcript,
    line({ type: "user", message: { role: "user", content: `fix ${H}` } }, Date.now() - 5000) +
      line({ type: "assistant", requestId: "r1", message: { id: "m1", model: `claude-${HP}`, role: "assistant", content: [{ type: "tool_use", id: "tu1", name: "Edit", input: { file_path: file, old_string: "a", new_string: "b" } }], stop_reason: "tool_use", usage: { input_tokens: 5, output_tokens: 5 } } }, Date.now() - 4000) +
      line({ type: "user", message: { role: "user", content: [{ tool_use_id: "tu1", type: "tool_result", content: "ok" }] }, toolUseResult: { filePath: file } }, Date.now() - 3900),
  );
  return { dir: dir.path, home, env, agent, log, shop, transcript, line, file };
}

test("hostile names, argv, cwd, models and files: dashboard, scan, register, JSON, trace headers, kill prompt, budget, graph, claims", async (t) => {
  const { home, env, agent, log, transcript, line } = await hostileAgent(t);
  const pid = agent.pid!;

  const reg = await cli(["agents", "register", String(pid), H, "--command", H], env);
  assert.equal(reg.code, 0, reg.stderr);
  assert.equal(reg.stdout, `registered ${E} (pid ${pid})\n`);

  const dash = await cli(["agents", "--wide"], env);
  assert.equal(dash.code, 0, dash.stderr);
  const row = dash.stdout.split("\n").find((l) => l.startsWith(E))!;
  assert.ok(row, dash.stdout);
  assert.ok(row.includes(`${escapeText(join(tempDirOf(log), `shop${HP}`))}`), `cwd escaped in ${row}`);
  assert.ok(row.includes(`claude-${EP}`), "model escaped");
  assert.ok(dash.stdout.includes(`unpriced: claude-${EP} (set a price in agents.yaml)`), "unpriced footer escaped");

  const json = await cli(["agents", "--json"], env);
  const snap = JSON.parse(json.stdout) as { agents: Array<{ pid: number; name: string; cwd: string }> };
  const mine = snap.agents.find((a) => a.pid === pid)!;
  assert.equal(mine.name, H, "--json keeps the data exact");
  assert.ok(mine.cwd.endsWith(`shop${HP}`));

  const scan = await cli(["agents", "scan"], env);
  assert.ok(scan.stdout.includes(escapeText(`${process.execPath} ${join(tempDirOf(log), "bin", "claude")} ${H}`).slice(0, 40)), scan.stdout);

  // trace: the registered name in the header; the agent's own output through the filter
  const tr = live(["agents", "trace", String(pid)], env);
  t.after(() => tr.child.kill("SIGKILL"));
  await tr.waitFor("Ctrl+C to stop\n");
  appendFileSync(log, `tick ${H}\nafter\n`);
  await tr.waitFor("after\n");
  tr.child.kill("SIGINT");
  await new Promise((r) => tr.child.once("close", r));
  const trOut = assertInert(tr.out(), "trace");
  assertInert(tr.err(), "trace (stderr)");
  assert.ok(trOut.startsWith(`trace ${E} (pid ${pid})  Ctrl+C to stop\n`), trOut);
  assert.match(trOut, /\ntick .*evil.*\nafter\n/);

  // trace --transcript: the path in the header, prompts, tools, errors and answers
  const tt = live(["agents", "trace", String(pid), "--transcript"], env);
  t.after(() => tt.child.kill("SIGKILL"));
  await tt.waitFor("Ctrl+C to stop\n");
  appendFileSync(transcript, line({ type: "user", message: { role: "user", content: `again ${H}` } }));
  appendFileSync(transcript, line({ type: "assistant", requestId: "r2", message: { id: "m2", model: "claude-sonnet-4-5-20250929", role: "assistant", content: [{ type: "tool_use", id: "tu2", name: H, input: { command: H } }], stop_reason: "tool_use", usage: { input_tokens: 1, output_tokens: 1 } } }));
  appendFileSync(transcript, line({ type: "user", message: { role: "user", content: [{ type: "tool_result", tool_use_id: "tu2", content: H, is_error: true }] } }));
  appendFileSync(transcript, line({ type: "assistant", isApiErrorMessage: true, message: { id: "e1", model: "<synthetic>", role: "assistant", content: [{ type: "text", text: `API Error: ${H}` }] } }));
  appendFileSync(transcript, line({ type: "assistant", requestId: "r3", message: { id: "m3", model: "claude-sonnet-4-5-20250929", role: "assistant", content: [{ type: "text", text: `done ${H}` }], stop_reason: "end_turn", usage: { input_tokens: 1, output_tokens: 1 } } }));
  await tt.waitFor(`< done `);
  tt.child.kill("SIGINT");
  await new Promise((r) => tt.child.once("close", r));
  const ttOut = assertInert(tt.out(), "trace --transcript");
  assertInert(tt.err(), "trace --transcript (stderr)");
  assert.ok(ttOut.includes(`> again ${ET}\n`), ttOut);
  assert.ok(ttOut.includes(`· tool ${E} ${ET}\n`), ttOut);
  assert.ok(ttOut.includes(`✗ tool ${E} failed: ${ET}\n`), ttOut);
  assert.ok(ttOut.includes(`< done ${ET}\n`), ttOut);
  assert.ok(ttOut.includes(`! api error: API Error: ${ET}\n`), ttOut);

  // the kill prompt (readline writes it to the raw terminal)
  const no = await cli(["agents", "kill", String(pid)], env, "n\n");
  assert.equal(no.stdout, `About to SIGTERM ${E} (pid ${pid}). Confirm? [y/N] Cancelled.\n`);

  // budget: set and list an agent whose name is hostile
  const set = await cli(["agents", "budget", H, "5"], env);
  assert.equal(set.code, 0, set.stderr);
  assert.ok(set.stdout.startsWith(`updated ${E}: $5.00/hr -> `), set.stdout);
  const list = await cli(["agents", "budget"], env);
  assert.ok(list.stdout.includes(`${E}  $5.00`), list.stdout);

  // wait graph and claims name the agents
  const other = spawn("/bin/sleep", ["300"], { stdio: "ignore" });
  t.after(() => other.kill("SIGKILL"));
  await cli(["agents", "register", String(other.pid), `b${H}`], env);
  const w = await cli(["agents", "wait", String(pid), "--on", String(other.pid)], env);
  assert.equal(w.stdout, `${E} (${pid}) now waits on b${E} (${other.pid}).\n`);
  const g = await cli(["agents", "graph"], env);
  assert.ok(g.stdout.startsWith(`b${E} (${other.pid}) [active]\n└─ ${E} (${pid}) [waiting on b${E}] for `), g.stdout);
  const c = await cli(["agents", "claim", HP, H], env);
  assert.equal(c.stdout, `Branch ${EP} now held by ${E} (pid ${pid}).\n`);
  const cl = await cli(["agents", "claims"], env);
  assert.ok(cl.stdout.includes(`branch  ${EP}  ${E} (${pid})`), cl.stdout);

  // corrupt lines in the registry and the claims file are reported, not echoed raw
  appendFileSync(join(home, "agents.jsonl"), `{"name": ${JSON.stringify(H)}, "pid": "x${H}"}\n${H}\n`);
  const warned = await cli(["agents", "graph"], env);
  assert.match(warned.stderr, /^warning: agents\.jsonl:\d+: skipped corrupt line/m);
  writeFileSync(join(home, "claims.json"), `{"branches": ${H}}`);
  const cw = await cli(["agents", "claims"], env);
  assert.match(cw.stderr, /^warning: claims\.json: /);
  void chmodSync;
});

/** The temp dir a file lives in (the test's root). */
function tempDirOf(path: string): string {
  return path.slice(0, path.lastIndexOf("/"));
}

test("hostile incidents: watch log line, incidents list/show/--json with hostile evidence, trace refusal paths", async (t) => {
  const { dir, home, env, agent } = await hostileAgent(t);
  const pid = agent.pid!;
  await cli(["agents", "register", String(pid), H], env);
  writeFileSync(join(home, "agents.yaml"), `agents:\n  ${JSON.stringify(H)}:\n    progress_minutes: 0.001\n`);
  await new Promise((r) => setTimeout(r, 300));
  const w = await cli(["agents", "watch", "--once"], env);
  assert.equal(w.code, 0, w.stderr);
  const m = new RegExp(`incident ([0-9a-f]{8}) opened: (.*) \\(pid ${pid}\\) progress: `).exec(w.stdout);
  assert.ok(m, w.stdout + w.stderr);
  assert.equal(m[2], E);
  const id = m[1]!;

  const listed = await cli(["agents", "incidents"], env);
  assert.ok(listed.stdout.includes(`${id}  ${E}  ${pid}`), listed.stdout);
  const show = await cli(["agents", "incidents", "show", id], env);
  assert.equal(show.code, 0, show.stderr);
  assert.ok(show.stdout.includes(`\nagent      ${E} (pid ${pid}, claude-code)\n`), show.stdout);
  assert.match(show.stdout, /\n {2}working .*evil.*\n/);
  const js = await cli(["agents", "incidents", "--json"], env);
  assert.equal((JSON.parse(js.stdout) as Array<{ agent: string }>)[0]!.agent, H);

  // a hand-written incident whose every field is hostile
  const hostile = {
    id: "0badf00d", agent: H, pid, start_time: null, provider: H, slo: "progress", detail: H, opened_at: new Date().toISOString(), acked_at: null, resolved_at: null, resolution: null,
    kills: [{ at: new Date().toISOString(), signal: "SIGTERM", outcome: H }],
    evidence: { source: H, output: `${H}\nline two ${H}\n`, resources: { uptimeSec: 1, cpuPct: 0, rssBytes: 1, children: 0 }, signals: { status: H, lastOutputAt: null, tokensPerMin: null, usdPerHour: null, spendLastHourUsd: null, errorRatePct: null, model: H } },
  };
  appendFileSync(join(home, "incidents.jsonl"), JSON.stringify({ event: "open", incident: hostile }) + "\n");
  const s2 = await cli(["agents", "incidents", "show", "0badf00d"], env);
  assert.equal(s2.code, 0, s2.stderr);
  assert.ok(s2.stdout.includes(`detail     ${E}\n`), s2.stdout);
  assert.ok(s2.stdout.includes(`model ${E}\n`), s2.stdout);
  assert.ok(s2.stdout.includes(`kill       `) && s2.stdout.includes(`: ${E}\n`), s2.stdout);
  assert.ok(s2.stdout.includes(` bytes of ${E}:\n`), s2.stdout);
  await cli(["agents", "incidents"], env);
  await cli(["agents"], env);

  // a stdout file that was deleted: its path is in the refusal
  const gone = join(dir, `gone${HP}.log`);
  const fd = openSync(gone, "a");
  const p = spawn("/bin/sleep", ["300"], { stdio: ["ignore", fd, "ignore"] });
  t.after(() => p.kill("SIGKILL"));
  unlinkSync(gone);
  const r = await cli(["agents", "trace", String(p.pid)], env);
  assert.equal(r.stderr, `cannot trace pid ${p.pid}: stdout target ${escapeText(gone)} no longer exists\n`);
});

test("hostile file names from transcripts: conflicts, its incident line and --json; the pre-tool hook's reason", async (t) => {
  const { dir, env, shop, file, transcript, line } = await hostileAgent(t);
  // a second agent (Codex) patches the same file
  const bin = join(dir, "bin2");
  mkdirSync(bin);
  const { copyFileSync } = await import("node:fs");
  copyFileSync("/bin/sleep", join(bin, "codex"));
  const codex = spawn(join(bin, "codex"), ["300"], { cwd: shop, stdio: "ignore" });
  t.after(() => codex.kill("SIGKILL"));
  await new Promise((r) => setTimeout(r, 200));
  const now = Date.now();
  const d = new Date(now);
  const cdir = join(env.CODEX_HOME!, "sessions", String(d.getUTCFullYear()), String(d.getUTCMonth() + 1).padStart(2, "0"), String(d.getUTCDate()).padStart(2, "0"));
  mkdirSync(cdir, { recursive: true });
  const ts = (ms: number) => new Date(ms).toISOString();
  const sid = "0199a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c";
  writeFileSync(
    join(cdir, `rollout-${ts(now - 2000).slice(0, 19).replace(/:/g, "-")}-${sid}.jsonl`),
    [
      { timestamp: ts(now - 2000), type: "session_meta", payload: { id: sid, timestamp: ts(now - 2000), cwd: shop, originator: "codex_cli_rs", cli_version: "0.58.0", source: "cli" } },
      { timestamp: ts(now - 1900), type: "turn_context", payload: { cwd: shop, model: "gpt-5-codex" } },
      { timestamp: ts(now - 1000), type: "response_item", payload: { type: "custom_tool_call", status: "completed", call_id: "c1", name: "apply_patch", input: `*** Begin Patch\n*** Update File: ${file.slice(shop.length + 1)}\n@@\n-a\n+b\n*** End Patch\n` } },
    ].map((l) => JSON.stringify(l)).join("\n") + "\n",
  );
  appendFileSync(transcript, line({ type: "user", message: { role: "user", content: "more" } }));
  const c = await cli(["agents", "conflicts", "--window", "600"], env);
  assert.equal(c.code, 0, c.stderr);
  assert.ok(c.stdout.includes(escapeText(file)), c.stdout);
  assert.match(c.stdout, /· incident [0-9a-f]{8} opened: /);
  assert.ok(c.stdout.includes(`shared worktree: `) && c.stdout.includes(`on branch main${EP} in `), c.stdout);
  const cj = await cli(["agents", "conflicts", "--window", "600", "--json"], env);
  assert.equal((JSON.parse(cj.stdout) as { conflicts: Array<{ path: string }> }).conflicts[0]!.path, file);

  const hook = await cli(["agents", "hook", "claude-pretool", "--window", "600"], env, JSON.stringify({ tool_name: "Edit", tool_input: { file_path: file }, cwd: "/" }));
  assert.equal(hook.code, 2, hook.stderr);
  assert.ok(hook.stderr.startsWith(`blocked by opensre: ${escapeText(file)} was written by `), hook.stderr);
});

test("the shell's incident banner shows a hostile agent name escaped", async (t) => {
  const { home, env, agent } = await hostileAgent(t);
  await cli(["agents", "register", String(agent.pid), H], env);
  writeFileSync(join(home, "agents.yaml"), `agents:\n  ${JSON.stringify(H)}:\n    progress_minutes: 0.001\nwatchdog:\n  interval_seconds: 0.3\n`);
  const shell = new PtySession(env);
  t.after(() => shell.kill());
  await shell.waitFor("> ");
  await shell.waitFor(`opened: ${E} (pid ${agent.pid}) progress`);
  shell.write("/exit\r");
  assert.equal(await shell.exited, 0);
  // readline draws the prompt with its own cursor controls; nothing of the agent's reaches the terminal
  assert.doesNotMatch(shell.raw, /\x1b\]|\x1bc|\x1b\[2J|\x1b\[8m|[\x07\x80-\x9f\u202a-\u202e\u2066-\u2069]/);
});
