import { before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFile, type ChildProcess } from "node:child_process";
import { createRequire } from "node:module";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { CliProcess, runCli } from "../test/helpers/cli.js";
import { isolatedEnv, tempDir } from "../test/helpers/env.js";
import { readProcessTable } from "../src/fleet/procfs.js";
import type { FleetAgent, FleetSnapshot } from "../src/fleet/model.js";
import { claudeProjectDir } from "../src/fleet/transcripts/paths.js";
import { liveFigures, rounded, storedFigures } from "../test/helpers/history.js";
import { HistoryIngest } from "../src/history/ingest.js";
import { HistoryStore } from "../src/history/store.js";
import { installAll, PINS } from "./install.js";

/**
 * The real agent CLIs, pinned in conformance/pins.json, run offline so each writes a real
 * session record; then the dashboard row, `trace --transcript`, discovery and a history
 * backfill (Claude, Codex, Gemini: it must count what the live view counts) are checked
 * against them. opensre runs with its own (empty) agent locations: every record must be
 * found through the agent's own environment.
 */
const execFileP = promisify(execFile);
const require = createRequire(import.meta.url);
const nodePty = require("node-pty") as { spawn(f: string, a: string[], o: object): { pid: number; write(s: string): void; onData(cb: (d: string) => void): void; kill(s?: string): void } };

let bins: Record<string, string> = {};
before(async () => {
  bins = await installAll();
}, { timeout: 900_000 });

/** An environment for a real agent: a temp HOME and nothing of ours (no tokens, no real home). */
function agentEnv(home: string, extra: Record<string, string>): NodeJS.ProcessEnv {
  mkdirSync(home, { recursive: true });
  return { PATH: process.env.PATH ?? "/usr/bin:/bin", LANG: "C.UTF-8", TERM: "xterm-256color", HOME: home, TMPDIR: process.env.TMPDIR ?? "/tmp", NO_COLOR: "1", ...extra };
}

function setup(t: { after: (f: () => void) => void }) {
  const dir = tempDir("osre-agents-");
  const started: number[] = [];
  t.after(() => {
    // only what this test started, and their descendants
    const table = readProcessTable();
    const kids = new Map<number, number[]>();
    for (const p of table.procs) kids.set(p.ppid, [...(kids.get(p.ppid) ?? []), p.pid]);
    const all = [...started];
    for (let i = 0; i < all.length; i++) all.push(...(kids.get(all[i]!) ?? []));
    // children first, so none is re-parented out of reach
    for (const pid of all.reverse()) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        /* gone */
      }
    }
    dir.cleanup();
  });
  const proj = join(dir.path, "proj");
  mkdirSync(proj);
  writeFileSync(join(proj, "README.md"), "# demo\n");
  return { dir: dir.path, proj, osre: isolatedEnv(join(dir.path, "osre")), started };
}

async function until<T>(what: string, f: () => T | undefined | null | false, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Kills a process and its descendants (Codex's npm wrapper would leave its native child behind). */
function killTree(root: number): void {
  for (const pid of [...tree(root)].reverse()) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      /* gone */
    }
  }
}

function tree(root: number): Set<number> {
  const table = readProcessTable();
  const out = new Set([root]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const p of table.procs) if (out.has(p.ppid) && !out.has(p.pid)) out.add(p.pid), (grew = true);
  }
  return out;
}

async function rowsOf(env: NodeJS.ProcessEnv, root: number): Promise<FleetAgent[]> {
  const r = await runCli(["agents", "--json"], { env, timeoutMs: 60_000 });
  assert.equal(r.code, 0, r.stderr);
  const snap = JSON.parse(r.stdout) as FleetSnapshot;
  const mine = tree(root);
  return snap.agents.filter((a) => mine.has(a.pid));
}

/** One row for the agent's whole process tree, once it is mapped (or discovered, for agents without transcripts). */
async function oneRow(env: NodeJS.ProcessEnv, root: number, provider: string, ready: (a: FleetAgent) => boolean = (a) => a.transcript !== null): Promise<FleetAgent> {
  let rows: FleetAgent[] = [];
  const deadline = Date.now() + 45_000;
  while (Date.now() < deadline) {
    rows = await rowsOf(env, root);
    if (rows.length === 1 && ready(rows[0]!)) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  assert.equal(rows.length, 1, `one row per agent: ${JSON.stringify(rows.map((a) => [a.pid, a.provider]))}`);
  assert.equal(rows[0]!.provider, provider);
  return rows[0]!;
}

async function traceShows(env: NodeJS.ProcessEnv, pid: number, needle: string): Promise<string> {
  const p = new CliProcess(["agents", "trace", String(pid), "--transcript", "--tail", "50"], { env });
  try {
    await p.waitFor((o, e) => o.includes(needle) || e.length > 0, 30_000, JSON.stringify(needle));
    assert.equal(p.stderr, "");
    assert.ok(p.stdout.includes(needle), p.stdout);
    return p.stdout;
  } finally {
    p.kill("SIGKILL");
  }
}

async function traceRefuses(env: NodeJS.ProcessEnv, pid: number): Promise<string> {
  const r = await runCli(["agents", "trace", String(pid), "--transcript"], { env, timeoutMs: 30_000 });
  assert.equal(r.code, 1);
  return r.stderr;
}

test(`Claude Code ${PINS["@anthropic-ai/claude-code"]}: an interactive session and a claude -p in one folder each map to their own session; waiting after an API error`, { timeout: 240_000 }, async (t) => {
  const { dir, proj, osre, started } = setup(t);
  const cfg = join(dir, "claude-cfg");
  mkdirSync(cfg);
  writeFileSync(join(cfg, ".claude.json"), JSON.stringify({ hasCompletedOnboarding: true, customApiKeyResponses: { approved: ["sk-ant-api03-dummy"], rejected: [] }, projects: { [proj]: { hasTrustDialogAccepted: true } } }));
  const env = agentEnv(join(dir, "home"), { CLAUDE_CONFIG_DIR: cfg, ANTHROPIC_API_KEY: "sk-ant-api03-dummy", ANTHROPIC_BASE_URL: "http://127.0.0.1:9", CLAUDE_CODE_MAX_RETRIES: "0", DISABLE_AUTOUPDATER: "1" });
  const pty = nodePty.spawn(bins.claude!, [], { name: "xterm-256color", cols: 120, rows: 40, cwd: proj, env });
  started.push(pty.pid);
  let screen = "";
  pty.onData((d) => (screen += d));
  const record = join(cfg, "sessions", `${pty.pid}.json`);
  const sessionId = await until("sessions/<pid>.json", () => existsSync(record) && (JSON.parse(readFileSync(record, "utf8")) as { sessionId?: string }).sessionId);
  await new Promise((r) => setTimeout(r, 3000));
  pty.write("hello there");
  await new Promise((r) => setTimeout(r, 1000));
  pty.write("\r");
  const transcript = join(cfg, "projects", claudeProjectDir(proj), `${sessionId}.jsonl`);
  await until("the prompt's API error", () => existsSync(transcript) && readFileSync(transcript, "utf8").includes('"isApiErrorMessage":true'), 90_000);

  // a second Claude in the same folder, run to completion after the interactive one's last write
  const p = await execFileP(bins.claude!, ["-p", "say hi", "--output-format", "stream-json", "--verbose"], { cwd: proj, env, timeout: 120_000 }).catch((e: { stdout?: string }) => e);
  const other = /"session_id":"([0-9a-f-]{36})"/.exec(String((p as { stdout?: string }).stdout ?? ""))?.[1];
  assert.ok(other && other !== sessionId, "claude -p wrote its own session");

  const row = await oneRow(osre, pty.pid, "claude-code");
  assert.equal(row.transcript!.sessionId, sessionId, "the live session, not the newer one of the process that exited");
  assert.equal(row.status, "waiting");
  assert.ok(row.lastOutputAt !== null);
  await traceShows(osre, row.pid, "> hello there");
  const history = await historyAgrees(dir, { CLAUDE_CONFIG_DIR: cfg, HOME: join(dir, "nohome") }, "claude-code");
  assert.ok(history.errors >= 1, "the prompt's API error is counted");
  keep("claude-code", PINS["@anthropic-ai/claude-code"]!, join(cfg, "projects"), proj);
});

test(`Claude Code ${PINS["@anthropic-ai/claude-code"]}: a working directory too long for a folder name is looked for where Claude writes it (cut, with its hash)`, { timeout: 180_000 }, async (t) => {
  const { dir } = setup(t);
  const cwd = join(dir, "a".repeat(60), "b".repeat(60), "c".repeat(60), "d".repeat(40));
  mkdirSync(cwd, { recursive: true });
  const cfg = join(dir, "claude-cfg");
  mkdirSync(cfg);
  writeFileSync(join(cfg, ".claude.json"), JSON.stringify({ hasCompletedOnboarding: true, customApiKeyResponses: { approved: ["sk-ant-api03-dummy"], rejected: [] }, projects: { [cwd]: { hasTrustDialogAccepted: true } } }));
  const env = agentEnv(join(dir, "home"), { CLAUDE_CONFIG_DIR: cfg, ANTHROPIC_API_KEY: "sk-ant-api03-dummy", ANTHROPIC_BASE_URL: "http://127.0.0.1:9", CLAUDE_CODE_MAX_RETRIES: "0", DISABLE_AUTOUPDATER: "1" });
  await execFileP(bins.claude!, ["-p", "say hi"], { cwd, env, timeout: 120_000 }).catch(() => undefined);
  assert.ok(cwd.replace(/[^A-Za-z0-9]/g, "-").length > 200, "the sanitised path is over Claude's 200 characters");
  const folders = readdirSync(join(cfg, "projects"));
  assert.deepEqual(folders, [claudeProjectDir(cwd)]);
  assert.ok(readdirSync(join(cfg, "projects", folders[0]!)).some((f) => f.endsWith(".jsonl")), "the session transcript is in it");
});

test(`Codex ${PINS["@openai/codex"]}: codex exec and a fork of it, each under its own session id, prompts shown`, { timeout: 180_000 }, async (t) => {
  const { dir, proj, osre, started } = setup(t);
  const home = join(dir, "codex-home");
  mkdirSync(home);
  const env = agentEnv(join(dir, "home"), { CODEX_HOME: home, OPENAI_API_KEY: "sk-dummy", OPENAI_BASE_URL: "http://127.0.0.1:9/v1" });
  const rollouts = () => {
    const out: string[] = [];
    const walk = (d: string) => {
      for (const e of existsSync(d) ? readdirSync(d, { withFileTypes: true }) : []) e.isDirectory() ? walk(join(d, e.name)) : out.push(join(d, e.name));
    };
    walk(join(home, "sessions"));
    return out.filter((f) => f.endsWith(".jsonl"));
  };
  const a = spawn(bins.codex!, ["exec", "--skip-git-repo-check", "say hi"], { cwd: proj, env, stdio: "ignore" });
  started.push(a.pid!);
  const file = await until("the rollout", () => rollouts().find((f) => readFileSync(f, "utf8").includes("say hi")));
  const id = /([0-9a-f]{8}-[0-9a-f-]{27})\.jsonl$/.exec(file)![1]!;
  const row = await oneRow(osre, a.pid!, "codex");
  assert.equal(row.transcript!.sessionId, id);
  await traceShows(osre, row.pid, "> say hi");
  killTree(a.pid!);

  const f = spawn(bins.codex!, ["exec", "fork", "--skip-git-repo-check", id, "and now bye"], { cwd: proj, env, stdio: "ignore" });
  started.push(f.pid!);
  const forkFile = await until("the fork's rollout", () => rollouts().find((x) => x !== file && readFileSync(x, "utf8").includes("and now bye")));
  const forkId = /([0-9a-f]{8}-[0-9a-f-]{27})\.jsonl$/.exec(forkFile)![1]!;
  const frow = await oneRow(osre, f.pid!, "codex");
  assert.equal(frow.transcript!.sessionId, forkId, "a fork is reported under its own session id");
  await traceShows(osre, frow.pid, "> and now bye");
  await historyAgrees(dir, { CODEX_HOME: home, HOME: join(dir, "nohome") }, "codex");
  keep("codex", PINS["@openai/codex"]!, join(home, "sessions"), proj);
});

test(`Gemini CLI ${PINS["@google/gemini-cli"]}: gemini -p maps to its JSON Lines chat; the prompt shows`, { timeout: 180_000 }, async (t) => {
  const { dir, proj, osre, started } = setup(t);
  const home = join(dir, "home");
  mkdirSync(join(home, ".gemini"), { recursive: true });
  writeFileSync(join(home, ".gemini", "settings.json"), JSON.stringify({ security: { auth: { selectedType: "gemini-api-key" } } }));
  const env = agentEnv(home, { GEMINI_API_KEY: "dummy", GEMINI_CLI_TRUST_WORKSPACE: "true" });
  const g = spawn(bins.gemini!, ["-m", "gemini-2.5-flash", "-p", "say hi"], { cwd: proj, env, stdio: "ignore" });
  started.push(g.pid!);
  const chats = join(home, ".gemini", "tmp", "proj", "chats");
  const file = await until("the chat", () => existsSync(chats) && readdirSync(chats).map((f) => join(chats, f)).find((f) => readFileSync(f, "utf8").includes('"say hi"')), 90_000);
  const sessionId = (JSON.parse(readFileSync(file, "utf8").split("\n")[0]!) as { sessionId: string }).sessionId;
  const row = await oneRow(osre, g.pid!, "gemini");
  assert.equal(row.transcript!.sessionId, sessionId);
  await traceShows(osre, row.pid, "> say hi");
  await historyAgrees(dir, { HOME: home }, "gemini");
  keep("gemini-cli", PINS["@google/gemini-cli"]!, join(home, ".gemini", "tmp"), proj);
});

test(`Copilot CLI ${PINS["@github/copilot"]}: two copilot -p in one folder each map to their own session log (the in-use marker each holds); the prompt shows`, { timeout: 180_000 }, async (t) => {
  const { dir, proj, osre, started } = setup(t);
  const home = join(dir, "copilot-home");
  const env = agentEnv(join(dir, "home"), { COPILOT_HOME: home, COPILOT_OFFLINE: "true", COPILOT_PROVIDER_BASE_URL: "http://127.0.0.1:9/v1", COPILOT_PROVIDER_API_KEY: "dummy", COPILOT_MODEL: "gpt-5.2" });
  const state = join(home, "session-state");
  const sessionOf = (prompt: string) => () =>
    existsSync(state) && readdirSync(state).map((d) => join(state, d, "events.jsonl")).find((f) => existsSync(f) && readFileSync(f, "utf8").includes(JSON.stringify(prompt)));
  // offline, each retries for about 30 s after its prompt and exits: both are started at once, so both are live together
  const run = (prompt: string) => spawn(bins.copilot!, ["-p", prompt, "--allow-all-tools"], { cwd: proj, env, stdio: "ignore" });
  const one = run("say hi one");
  const two = run("say hi two");
  started.push(one.pid!, two.pid!);
  const idOf = (f: string) => /session-state\/([0-9a-f-]{36})\//.exec(f)![1]!;
  const oneId = idOf(await until("the first session log", sessionOf("say hi one"), 90_000));
  const twoId = idOf(await until("the second session log", sessionOf("say hi two"), 90_000));
  assert.notEqual(oneId, twoId);
  // one snapshot: each process (wrapper and native child, one row) shows its own session
  let rows: FleetAgent[][] = [];
  const deadline = Date.now() + 45_000;
  while (Date.now() < deadline) {
    const r = await runCli(["agents", "--json"], { env: osre, timeoutMs: 60_000 });
    assert.equal(r.code, 0, r.stderr);
    const agents = (JSON.parse(r.stdout) as FleetSnapshot).agents;
    rows = [one.pid!, two.pid!].map((root) => { const mine = tree(root); return agents.filter((a) => mine.has(a.pid)); });
    if (rows.every((x) => x.length === 1 && x[0]!.transcript !== null)) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  assert.deepEqual(rows.map((x) => x.map((a) => [a.provider, a.transcript?.sessionId])), [[["copilot", oneId]], [["copilot", twoId]]]);
  await traceShows(osre, rows[1]![0]!.pid, "> say hi two");
  keep("copilot", PINS["@github/copilot"]!, state, proj);
});

test(`OpenCode ${PINS["opencode-ai"]} and Amp: one row each, and trace says plainly that they keep no transcript we can read`, { timeout: 180_000 }, async (t) => {
  const { dir, proj, osre, started } = setup(t);
  const o = spawn(bins.opencode!, ["run", "say hi"], { cwd: proj, env: agentEnv(join(dir, "oc-home"), {}), stdio: "ignore" });
  started.push(o.pid!);
  const orow = await oneRow(osre, o.pid!, "opencode", () => true);
  assert.equal(orow.transcript, null);
  assert.match(await traceRefuses(osre, orow.pid), /^cannot trace pid \d+ transcript: opencode keeps no local transcript that opensre can read \(/);
  // offline, Amp shows its connection error and exits after a few seconds: try again if it left before the trace
  let refusal = "";
  for (let attempt = 0; attempt < 3; attempt++) {
    const amp = nodePty.spawn(bins.amp!, [], { name: "xterm-256color", cols: 100, rows: 30, cwd: proj, env: agentEnv(join(dir, "amp-home"), { AMP_API_KEY: "dummy" }) });
    started.push(amp.pid);
    const arow = await oneRow(osre, amp.pid, "amp", () => true);
    assert.equal(arow.transcript, null);
    refusal = await traceRefuses(osre, arow.pid);
    if (!/no such pid/.test(refusal)) break;
  }
  assert.match(refusal, /^cannot trace pid \d+ transcript: amp keeps no local transcript that opensre can read \(/);
});

/** With OPENSRE_AGENTS_KEEP=<dir>, the records each agent wrote are copied there (new fixtures for test/fixtures/real). */
/**
 * A history backfill of the agent's real records counts what the live view counts
 * (docs/history.md), from the agent's own locations (`env`); returns those figures.
 */
async function historyAgrees(dir: string, env: NodeJS.ProcessEnv, provider: string) {
  const store = HistoryStore.open(join(dir, "history-home"), process.env);
  try {
    const ingest = new HistoryIngest(store, { env });
    await ingest.refresh();
    assert.deepEqual(ingest.drainWarnings(), []);
    const live = rounded(await liveFigures(env));
    assert.ok(live[provider], `the live view reads ${provider}'s records: ${JSON.stringify(live)}`);
    const stored = rounded(storedFigures(store))[provider];
    const nothing = live[provider]!.requests + live[provider]!.errors === 0;
    // a provider whose records hold no response and no API error has no usage row
    assert.deepEqual(stored ?? (nothing ? live[provider] : undefined), live[provider]);
    assert.deepEqual(rounded(storedFigures(store, "usage_minute"))[provider] ?? (nothing ? live[provider] : undefined), live[provider], "minute rows agree");
    return live[provider]!;
  } finally {
    store.close();
  }
}

function keep(name: string, version: string, from: string, proj: string): void {
  const to = process.env.OPENSRE_AGENTS_KEEP;
  if (!to) return;
  const dest = join(to, `${name}-${version}`);
  mkdirSync(dest, { recursive: true });
  const copy = (src: string, dst: string) => {
    for (const e of readdirSync(src, { withFileTypes: true })) {
      if (e.isDirectory()) {
        mkdirSync(join(dst, e.name.split(claudeProjectDir(proj)).join("-home-dev-proj")), { recursive: true });
        copy(join(src, e.name), join(dst, e.name.split(claudeProjectDir(proj)).join("-home-dev-proj")));
      } else if (e.isFile() && /\.(jsonl?|yaml)$/.test(e.name)) {
        writeFileSync(join(dst, e.name), readFileSync(join(src, e.name), "utf8").split(proj).join("/home/dev/proj"));
      }
    }
  };
  copy(from, dest);
}

void ({} as ChildProcess);
