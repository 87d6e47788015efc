import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { copyFileSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CliProcess, runCli } from "../helpers/cli.js";
import { rawClient, writeAll } from "../helpers/bus-raw.js";
import { isolatedEnv, tempDir, WAIT_MS } from "../helpers/env.js";
import { brokerHostedBy, scope, stopChild } from "../helpers/scope.js";
import { claudeProjectDir } from "../../src/fleet/transcripts/match.js";
import { detectConflicts } from "../../src/conflicts/detect.js";
import type { AgentRef, WriteEvent } from "../../src/conflicts/model.js";
import { normalizePath } from "../../src/conflicts/paths.js";
import { busSocketPath } from "../../src/bus/paths.js";
import { encodeMessage } from "../../src/bus/message.js";

const CLAUDE_SESSION = "22222222-3333-4444-8555-666666666666";
const CODEX_SESSION = "0199a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";

function setup(t: { after: (f: () => unknown) => void }) {
  const { defer } = scope(t);
  const dir = tempDir();
  defer(dir.cleanup);
  const bin = join(dir.path, "bin");
  mkdirSync(bin);
  const repo = join(dir.path, "work", "shop");
  mkdirSync(join(repo, ".git"), { recursive: true });
  writeFileSync(join(repo, ".git", "HEAD"), "ref: refs/heads/main\n");
  mkdirSync(join(repo, "services"));
  writeFileSync(join(repo, "services", "auth.py"), "token = None\n");
  symlinkSync(repo, join(dir.path, "link"));
  const home = join(dir.path, "home");
  mkdirSync(home);
  const env = isolatedEnv(home);
  copyFileSync("/bin/sleep", join(bin, "claude"));
  copyFileSync("/bin/sleep", join(bin, "codex"));
  return { dir: dir.path, bin, repo, home, env, defer };
}

function agentProc(bin: string, name: string, cwd: string): ChildProcess {
  return spawn(join(bin, name), ["300"], { cwd, stdio: "ignore" });
}

/** A Claude Code session that edits `filePath` at `at` (tool_use + confirming toolUseResult). */
function claudeEdit(env: NodeJS.ProcessEnv, cwd: string, filePath: string, at: number): void {
  const project = join(env.CLAUDE_CONFIG_DIR!, "projects", claudeProjectDir(cwd));
  mkdirSync(project, { recursive: true });
  const base = { cwd, sessionId: CLAUDE_SESSION, version: "2.0.14" };
  const lines = [
    { ...base, type: "user", timestamp: new Date(at - 1000).toISOString(), message: { role: "user", content: "fix auth" } },
    { ...base, type: "assistant", timestamp: new Date(at).toISOString(), requestId: "req_1", message: { id: "msg_1", model: "claude-sonnet-4-5-20250929", role: "assistant", content: [{ type: "tool_use", id: "toolu_1", name: "Edit", input: { file_path: filePath, old_string: "None", new_string: "''" } }], stop_reason: "tool_use", usage: { input_tokens: 1, output_tokens: 1 } } },
    { ...base, type: "user", timestamp: new Date(at + 300).toISOString(), message: { role: "user", content: [{ tool_use_id: "toolu_1", type: "tool_result", content: "updated" }] }, toolUseResult: { filePath } },
    // the session is live: its last event is after the process started
    { ...base, type: "user", timestamp: new Date().toISOString(), message: { role: "user", content: "and the tests" } },
  ];
  writeFileSync(join(project, `${CLAUDE_SESSION}.jsonl`), lines.map((l) => JSON.stringify(l)).join("\n") + "\n");
}

/** A Codex session in `cwd` whose apply_patch updates `relPath` (relative to the cwd) at `at`. */
function codexPatch(env: NodeJS.ProcessEnv, cwd: string, relPath: string, at: number): void {
  const d = new Date(at);
  const dir = join(env.CODEX_HOME!, "sessions", String(d.getUTCFullYear()), String(d.getUTCMonth() + 1).padStart(2, "0"), String(d.getUTCDate()).padStart(2, "0"));
  mkdirSync(dir, { recursive: true });
  const ts = (ms: number) => new Date(ms).toISOString();
  const lines = [
    { timestamp: ts(at - 2000), type: "session_meta", payload: { id: CODEX_SESSION, timestamp: ts(at - 2000), cwd, originator: "codex_cli_rs", cli_version: "0.58.0", source: "cli" } },
    { timestamp: ts(at - 1900), type: "turn_context", payload: { cwd, model: "gpt-5-codex" } },
    { timestamp: ts(at), type: "response_item", payload: { type: "custom_tool_call", status: "completed", call_id: "call_1", name: "apply_patch", input: `*** Begin Patch\n*** Update File: ${relPath}\n@@\n-token = None\n+token = ''\n*** End Patch\n` } },
  ];
  writeFileSync(join(dir, `rollout-${ts(at - 2000).slice(0, 19).replace(/:/g, "-")}-${CODEX_SESSION}.jsonl`), lines.map((l) => JSON.stringify(l)).join("\n") + "\n");
}

test("two agents editing one file within the window: one conflict naming both (relative, absolute and symlinked paths meet), and an incident", async (t) => {
  const { dir, bin, repo, home, env, defer } = setup(t);
  const claude = agentProc(bin, "claude", repo);
  const codex = agentProc(bin, "codex", repo);
  defer(() => stopChild(claude));
  defer(() => stopChild(codex));
  await new Promise((r) => setTimeout(r, 200));
  const now = Date.now();
  claudeEdit(env, repo, join(dir, "link", "services", "auth.py"), now - 4000); // through the symlink
  codexPatch(env, repo, "services/auth.py", now - 1000); // relative to the session cwd

  // a window wide enough that a loaded machine's slow start does not age the writes out of it
  const r = await runCli(["agents", "conflicts", "--window", "120"], { env });
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.split("\n");
  assert.equal(lines[0], "Agent file-write conflicts");
  assert.match(lines[1]!, /^path +agents +first seen +last seen$/);
  const hhmmss = (ms: number) => new Date(ms).toISOString().slice(11, 19);
  assert.match(lines[2]!, new RegExp(`^${join(repo, "services", "auth.py")} +claude-code \\(${claude.pid}\\), codex \\(${codex.pid}\\) +${hhmmss(now - 4000)} UTC +${hhmmss(now - 1000)} UTC$`));
  assert.match(r.stdout, new RegExp(`shared worktree: .*claude-code \\(${claude.pid}\\).* on branch main in ${repo}\\n`));
  assert.match(r.stdout, /· incident [0-9a-f]{8} opened: claude-code, codex \(pid \d+\) conflict: .*services\/auth\.py written by claude-code \(\d+\) and codex \(\d+\) within 120s\n/);
  const events = readFileSync(join(home, "incidents.jsonl"), "utf8").trim().split("\n");
  assert.equal(events.length, 1);
  // the same conflict seen again does not open a second incident
  await runCli(["agents", "conflicts", "--window", "120"], { env });
  assert.equal(readFileSync(join(home, "incidents.jsonl"), "utf8").trim().split("\n").length, 1);

  // a narrower window: 3 s apart is no longer a conflict
  const narrow = await runCli(["agents", "conflicts", "--window", "2"], { env });
  assert.match(narrow.stdout, /^no conflicts detected\n/);
});

test("writes further apart than the window are not a conflict; --since looks back through transcript history", async (t) => {
  const { bin, repo, env, defer } = setup(t);
  const claude = agentProc(bin, "claude", repo);
  const codex = agentProc(bin, "codex", repo);
  defer(() => stopChild(claude));
  defer(() => stopChild(codex));
  await new Promise((r) => setTimeout(r, 200));
  const now = Date.now();
  claudeEdit(env, repo, join(repo, "services", "auth.py"), now - 40_000);
  codexPatch(env, repo, "services/auth.py", now - 1000);
  const r = await runCli(["agents", "conflicts"], { env });
  assert.match(r.stdout, /^no conflicts detected\n/);
  const wide = await runCli(["agents", "conflicts", "--window", "600", "--since", "15m", "--json"], { env });
  const parsed = JSON.parse(wide.stdout) as { conflicts: Array<{ path: string; agents: AgentRef[] }> };
  assert.equal(parsed.conflicts.length, 1, wide.stdout);
  assert.deepEqual(parsed.conflicts[0]!.agents.map((a) => a.name), ["claude-code", "codex"]);
  const bad = await runCli(["agents", "conflicts", "--since", "soon"], { env });
  assert.equal(bad.stderr, "invalid --since: soon (a duration such as 90s, 30m, 2h, 1d)\n");
  assert.equal(bad.code, 2);
});

test("detection: same agent twice, unattributed writes and old writes never conflict; three agents merge into one", () => {
  const a: AgentRef = { name: "a", pid: 1, startTime: 10 };
  const b: AgentRef = { name: "b", pid: 2, startTime: 20 };
  const c: AgentRef = { name: "c", pid: 3, startTime: 30 };
  const w = (path: string, at: number, agent: AgentRef | null): WriteEvent => ({ path, at, agent, source: "transcript", via: "Edit" });
  const opts = { windowMs: 10_000, from: 0 };
  assert.deepEqual(detectConflicts([w("/x", 1000, a), w("/x", 2000, a)], opts), []);
  assert.deepEqual(detectConflicts([w("/x", 1000, a), w("/x", 2000, null)], opts), []);
  assert.deepEqual(detectConflicts([w("/x", 1000, a), w("/x", 12_000, b)], opts), []);
  assert.deepEqual(detectConflicts([w("/x", 1000, a), w("/x", 5000, b)], { windowMs: 10_000, from: 2000 }), [], "old writes age out of the live window");
  const three = detectConflicts([w("/x", 1000, a), w("/x", 5000, b), w("/x", 9000, c), w("/y", 9000, c)], opts);
  assert.deepEqual(three, [{ path: "/x", agents: [a, b, c], firstSeen: 1000, lastSeen: 9000, writes: 3 }]);
  // the same pid with another start time is another agent (pid reuse)
  assert.equal(detectConflicts([w("/x", 1000, a), w("/x", 2000, { ...a, startTime: 99 })], opts).length, 1);
  // our own state directory is never a conflict
  assert.deepEqual(detectConflicts([w("/h/agents.yaml", 1000, a), w("/h/agents.yaml", 2000, b)], { ...opts, ignorePrefixes: ["/h"] }), []);
});

test("paths: relative meets absolute, symlinks resolve, a missing file keeps its resolved directory", (t) => {
  const { dir, repo } = setup(t);
  assert.equal(normalizePath("services/auth.py", repo), join(repo, "services", "auth.py"));
  assert.equal(normalizePath(join(dir, "link", "services", "auth.py")), join(repo, "services", "auth.py"));
  assert.equal(normalizePath(join(dir, "link", "services", "new.py")), join(repo, "services", "new.py"));
  assert.equal(normalizePath("../../shop/./services/../services/auth.py", join(repo, "services")), join(repo, "services", "auth.py"));
});

test("conflicts --watch: write frames from two cooperating agents on the bus show up live as a conflict", async (t) => {
  const { repo, env, defer } = setup(t);
  const watch = new CliProcess(["agents", "conflicts", "--watch", "--interval", "0.3"], { env });
  // stopped and gone before the temp home is removed (it appends incidents.jsonl until it exits)
  defer(() => stopChild(watch.child));
  await watch.waitForOutput("no conflicts detected");
  // the frames go to the watch process's broker through a bare socket: this test process never elects, so never
  // hosts a broker that would outlive the test (the library's publish would elect one here if none were live)
  const socket = busSocketPath(env);
  await brokerHostedBy(socket, watch.child.pid!);
  const pub = await rawClient(socket);
  defer(() => pub.destroy());
  const frame = (agent: string, path: string, data: Record<string, unknown>, at = Date.now()) =>
    Buffer.from(encodeMessage({ agent, topic: "write", summary: "edited", path, data, timestamp: new Date(at).toISOString() }));
  // the watch process's own subscription may reach its broker after this connection did (a frame is delivered only to
  // the subscribers connected when it arrives): a probe conflict on another file is sent until it shows, then the
  // two writes under test go once, in order
  const probe = join(repo, "services", "probe.py");
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    await writeAll(pub, [frame("gamma:4003", probe, {}), frame("delta:4004", probe, {})]);
    try {
      await watch.waitFor((o) => o.includes(probe), Math.min(2000, Math.max(0, deadline - Date.now())), "the probe conflict");
      break;
    } catch (err) {
      if (Date.now() >= deadline) throw err;
    }
  }
  const now = Date.now();
  await writeAll(pub, [frame("alpha:4001", "services/auth.py", { cwd: repo }, now - 1000), frame("beta:4002", join(repo, "services", "auth.py"), {}, now)]);
  const row = new RegExp(`\\n${join(repo, "services", "auth.py")} +alpha \\(4001\\), beta \\(4002\\) +\\d\\d:\\d\\d:\\d\\d UTC +\\d\\d:\\d\\d:\\d\\d UTC\\n`);
  await watch.waitFor((o) => o.slice(o.lastIndexOf("every 0.3s")).includes(join(repo, "services", "auth.py")), WAIT_MS, "a live conflict");
  const shown = watch.stdout.slice(watch.stdout.lastIndexOf("every 0.3s"));
  assert.match(shown, row);
});
