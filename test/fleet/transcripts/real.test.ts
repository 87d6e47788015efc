import { test } from "node:test";
import assert from "node:assert/strict";
import { appendFileSync, cpSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { FIXTURES, tempDir } from "../../helpers/env.js";
import { TranscriptStore, type SessionMeta } from "../../../src/fleet/transcripts/store.js";
import { transcriptSignals } from "../../../src/fleet/signals.js";
import { agentStatus } from "../../../src/fleet/status.js";
import { renderEvent } from "../../../src/fleet/transcripts/follow.js";

const REAL = join(FIXTURES, "real");
/** Long after the records were written: the live view's windows are empty, the session totals are not. */
const LATER = Date.parse("2026-11-25T13:00:00Z");

function home(t: { after: (f: () => void) => void }) {
  const dir = tempDir();
  t.after(dir.cleanup);
  cpSync(join(REAL, "claude-code-2.1.197"), join(dir.path, "claude"), { recursive: true });
  cpSync(join(REAL, "codex-0.169.0"), join(dir.path, "codex"), { recursive: true });
  cpSync(join(REAL, "gemini-cli-0.61.0"), join(dir.path, "gemini"), { recursive: true });
  cpSync(join(REAL, "copilot-1.0.102"), join(dir.path, "copilot"), { recursive: true });
  const env = { CLAUDE_CONFIG_DIR: join(dir.path, "claude"), CODEX_HOME: join(dir.path, "codex"), GEMINI_DIR: join(dir.path, "gemini"), COPILOT_HOME: join(dir.path, "copilot"), HOME: join(dir.path, "nohome") };
  return { dir: dir.path, env };
}

async function load(t: { after: (f: () => void) => void }, now = LATER) {
  const h = home(t);
  const store = new TranscriptStore({ env: h.env, now: () => now, retainMs: 365 * 24 * 3600_000 });
  await store.refresh();
  const byId = (id: string) => store.sessions().find((s) => s.sessionId === id)!;
  const lines = (s: SessionMeta) => store.events(s.path).map(renderEvent).filter((x): x is string => x !== null);
  return { ...h, store, byId, lines };
}

test("Claude Code 2.1.197: the prompt shows, an API error is counted, and the turn's end leaves it waiting, not idle", async (t) => {
  const { store, byId, lines } = await load(t);
  const s = byId("b341a363-71f4-420f-a2ae-08381faa2187");
  assert.equal(s.cwd, "/home/dev/proj");
  assert.deepEqual(lines(s).slice(0, 1), ["> hello, list the files here"]);
  assert.match(lines(s).join("\n"), /! api error: API Error: Unable to connect to API/);
  assert.equal(store.totals(s.path)!.apiErrors, 1);
  const now = Date.parse("2026-11-25T12:50:00Z"); // 24 minutes after the failed turn
  const sig = transcriptSignals(s, store.events(s.path), store.totals(s.path), { now });
  assert.equal(sig.waitingForInput, true);
  const status = agentStatus({ lastOutputAt: sig.lastEventAt, transcript: sig, resource: { uptimeSec: 1, cpuPct: 0, rssBytes: 1, children: 0 } }, now);
  assert.equal(status, "waiting", "a progress SLO must not see 24 minutes of no progress");
  const p = byId("9a5dfc1b-1626-4d42-b10e-52e3deaf0cf8");
  assert.deepEqual(lines(p)[0], "> say hi");
});

test("Claude Code 2.1.332 (written by the conformance suite): both sessions' prompts; the API error ends the turn, waiting", async (t) => {
  const dir = tempDir();
  t.after(dir.cleanup);
  cpSync(join(REAL, "claude-code-2.1.332"), join(dir.path, "claude"), { recursive: true });
  const store = new TranscriptStore({ env: { CLAUDE_CONFIG_DIR: join(dir.path, "claude") }, now: () => LATER, retainMs: 365 * 24 * 3600_000 });
  await store.refresh();
  const byId = (id: string) => store.sessions().find((s) => s.sessionId === id)!;
  const live = byId("e5c1b738-954c-440a-8e87-44974d0f7d14");
  const prompts = (s: SessionMeta) => store.events(s.path).filter((e) => e.kind === "user_prompt").map((e) => (e as { text: string }).text);
  assert.deepEqual(prompts(live), ["hello there"]);
  assert.deepEqual(prompts(byId("8db53434-849e-41ee-86b1-95d631f855d8")), ["say hi"]);
  assert.equal(store.totals(live.path)!.apiErrors, 1);
  const sig = transcriptSignals(live, store.events(live.path), store.totals(live.path), { now: LATER });
  assert.equal(sig.waitingForInput, true);
});

test("Gemini CLI 0.61 JSON Lines: session id, the project's folder and the prompt (not the set-up context)", async (t) => {
  const { byId, lines } = await load(t);
  const s = byId("e796209a-72a6-4afb-aad0-3f7cdbc8958c");
  assert.equal(s.provider, "gemini");
  assert.equal(s.cwd, "/home/dev/proj");
  assert.deepEqual(lines(s), ["> say hi"]);
});

test("Codex 0.169: the prompt is read from its completed-item record; a fork is its own session, forked from its parent", async (t) => {
  const { store, byId, lines } = await load(t);
  const s = byId("01a212ac-8758-73f2-a883-1d3da91548f9");
  assert.equal(s.cwd, "/home/dev/proj");
  assert.equal(s.model, "gpt-6.1-sol");
  assert.deepEqual(lines(s), ["> say hi"]);
  const fork = byId("01a2131b-353e-7e03-8ebd-863a73f0790e");
  assert.equal(fork.forkedFromSessionId, "01a2131a-3754-7363-81f6-a13249a2b85b");
  assert.equal(fork.parentSessionId, null, "a fork is a top-level session of its process");
  assert.deepEqual(lines(fork).filter((l) => l.startsWith(">")), ["> and now bye"]);
  assert.equal(store.sessions().filter((x) => x.sessionId === "01a2131a-3754-7363-81f6-a13249a2b85b").length, 1);
});

test("Copilot CLI 1.0: session, folder, model, prompt, the provider error and the turn's end", async (t) => {
  const { store, byId, lines } = await load(t);
  const s = byId("5c9e007a-4a6c-4991-b161-69d890abf4e2");
  assert.equal(s.provider, "copilot");
  assert.equal(s.cwd, "/home/dev/proj");
  assert.equal(s.model, "gpt-5.2");
  assert.deepEqual(lines(s), ["> say hi", "· turn ended; waiting for the next prompt", "! api error: Could not connect to local model provider at http://127.0.0.1:9/v1. Check that the service is running and the port is c…"]);
  assert.equal(store.totals(s.path)!.apiErrors, 1);
});

const assistant = (id: string, requestId: string, at: string, usage: object, extra: object = {}) =>
  JSON.stringify({ type: "assistant", timestamp: at, cwd: "/w", sessionId: "11111111-2222-4333-8444-555555555555", requestId, message: { id, model: "claude-sonnet-4-5-20250929", content: [{ type: "text", text: "ok" }], usage }, ...extra });

test("Claude: a sub-agent (nested at any depth) replaying a parent response under a new requestId counts once; a final line without a newline counts", async (t) => {
  const dir = tempDir();
  t.after(dir.cleanup);
  const project = join(dir.path, "cfg", "projects", "-w");
  const session = "11111111-2222-4333-8444-555555555555";
  mkdirSync(join(project, session, "subagents", "agent-a", "subagents"), { recursive: true });
  writeFileSync(join(project, `${session}.jsonl`), assistant("msg_1", "req_1", "2026-11-25T10:00:00Z", { input_tokens: 100, output_tokens: 10 }) + "\n");
  writeFileSync(join(project, session, "subagents", "agent-a.jsonl"), assistant("msg_1", "req_9", "2026-11-25T10:00:00Z", { input_tokens: 100, output_tokens: 10 }, { isSidechain: true }) + "\n" + assistant("msg_2", "req_2", "2026-11-25T10:00:01Z", { input_tokens: 7, output_tokens: 3 }, { isSidechain: true }) + "\n");
  // deeper nesting; its last line has no newline (the file stopped growing)
  const deep = join(project, session, "subagents", "agent-a", "subagents", "agent-b.jsonl");
  writeFileSync(deep, assistant("msg_3", "req_3", "2026-11-25T10:00:02Z", { input_tokens: 5, output_tokens: 1 }, { isSidechain: true }));
  // CLAUDE_CONFIG_DIR as a comma-separated list whose second entry names the projects folder itself
  const env = { CLAUDE_CONFIG_DIR: `${join(dir.path, "missing")}, ${join(dir.path, "cfg", "projects")}`, HOME: join(dir.path, "nohome") };
  const store = new TranscriptStore({ env, now: () => Date.parse("2026-11-25T10:05:00Z") });
  await store.refresh();
  const all = store.sessions();
  assert.equal(all.length, 3);
  const sum = (k: "input" | "output") => all.reduce((n, s) => n + store.totals(s.path)!.usage[k], 0);
  assert.equal(sum("input"), 100 + 7 + 5);
  assert.equal(sum("output"), 10 + 3 + 1);
  assert.ok(all.filter((s) => s.parentSessionId === session).length === 2, "sub-agent runs are not top-level sessions");
  // the newline arrives later: the record is not counted again
  appendFileSync(deep, "\n" + assistant("msg_4", "req_4", "2026-11-25T10:00:03Z", { input_tokens: 1, output_tokens: 1 }) + "\n");
  await store.refresh();
  assert.equal(store.sessions().reduce((n, s) => n + store.totals(s.path)!.usage.input, 0), 100 + 7 + 5 + 1);
});

test("Codex: cumulative-only token counts give deltas; a fork replaying its parent's history counts each response once", async (t) => {
  const dir = tempDir();
  t.after(dir.cleanup);
  const day = join(dir.path, "codex", "sessions", "2026", "11", "25");
  mkdirSync(day, { recursive: true });
  const meta = (id: string, forked?: string) => JSON.stringify({ timestamp: "2026-11-25T10:00:00Z", type: "session_meta", payload: { id, cwd: "/w", ...(forked ? { forked_from_id: forked } : {}) } });
  const tc = (at: string, input: number, output: number) => JSON.stringify({ timestamp: at, type: "event_msg", payload: { type: "token_count", info: { total_token_usage: { input_tokens: input, cached_input_tokens: 0, output_tokens: output, reasoning_output_tokens: 0, total_tokens: input + output } } } });
  const parent = "01a2131a-3754-7363-81f6-a13249a2b85b";
  const child = "01a2131b-353e-7e03-8ebd-863a73f0790e";
  const parentLines = [meta(parent), tc("2026-11-25T10:00:01Z", 1000, 100), tc("2026-11-25T10:00:02Z", 1000, 100), tc("2026-11-25T10:00:03Z", 2500, 160)];
  writeFileSync(join(day, `rollout-2026-11-25T10-00-00-${parent}.jsonl`), parentLines.join("\n") + "\n");
  // an older-style fork: its own meta, then the parent's history replayed verbatim, then its own turn
  writeFileSync(join(day, `rollout-2026-11-25T10-01-00-${child}.jsonl`), [meta(child, parent), ...parentLines, tc("2026-11-25T10:01:05Z", 4000, 200)].join("\n") + "\n");
  const store = new TranscriptStore({ env: { CODEX_HOME: join(dir.path, "codex"), HOME: join(dir.path, "nohome") }, now: () => Date.parse("2026-11-25T10:05:00Z") });
  await store.refresh();
  const p = store.sessions().find((s) => s.sessionId === parent)!;
  const c = store.sessions().find((s) => s.sessionId === child)!;
  assert.ok(p && c, "the fork keeps its own session id");
  assert.deepEqual([store.totals(p.path)!.requests, store.totals(p.path)!.usage.input, store.totals(p.path)!.usage.output], [2, 2500, 160]);
  assert.deepEqual([store.totals(c.path)!.requests, store.totals(c.path)!.usage.input, store.totals(c.path)!.usage.output], [1, 1500, 40]);
});

test("Codex archived sessions are read as history", async (t) => {
  const dir = tempDir();
  t.after(dir.cleanup);
  const archived = join(dir.path, "codex", "archived_sessions");
  mkdirSync(archived, { recursive: true });
  cpSync(join(REAL, "codex-0.169.0", "sessions", "2026", "11", "25", "rollout-2026-11-25T12-27-13-01a212ac-8758-73f2-a883-1d3da91548f9.jsonl"), join(archived, "rollout-2026-11-25T12-27-13-01a212ac-8758-73f2-a883-1d3da91548f9.jsonl"));
  const store = new TranscriptStore({ env: { CODEX_HOME: join(dir.path, "codex"), HOME: join(dir.path, "nohome") }, now: () => LATER });
  await store.refresh();
  assert.deepEqual(store.sessions().map((s) => s.sessionId), ["01a212ac-8758-73f2-a883-1d3da91548f9"]);
});

test("a FIFO and a symlink to /dev/zero named like session files neither hang nor balloon a refresh", async (t) => {
  const dir = tempDir();
  t.after(dir.cleanup);
  const project = join(dir.path, "cfg", "projects", "-w");
  mkdirSync(project, { recursive: true });
  execFileSync("mkfifo", [join(project, "aaaaaaaa-2222-4333-8444-555555555555.jsonl")]);
  symlinkSync("/dev/zero", join(project, "bbbbbbbb-2222-4333-8444-555555555555.jsonl"));
  writeFileSync(join(project, "cccccccc-2222-4333-8444-555555555555.jsonl"), assistant("msg_1", "req_1", "2026-11-25T10:00:00Z", { input_tokens: 1, output_tokens: 1 }) + "\n");
  const gem = join(dir.path, "gemini", "tmp", "p", "chats");
  mkdirSync(gem, { recursive: true });
  execFileSync("mkfifo", [join(gem, "session-x.json")]);
  const store = new TranscriptStore({ env: { CLAUDE_CONFIG_DIR: join(dir.path, "cfg"), GEMINI_DIR: join(dir.path, "gemini"), HOME: join(dir.path, "nohome") }, now: () => Date.parse("2026-11-25T10:05:00Z") });
  const rss = process.memoryUsage().rss;
  const started = Date.now();
  await store.refresh();
  await store.refresh();
  assert.ok(Date.now() - started < 5_000, "no refresh waits on a FIFO");
  assert.ok(process.memoryUsage().rss - rss < 64 * 1024 * 1024, "nothing is read from /dev/zero");
  assert.deepEqual(store.sessions().map((s) => s.path.slice(-42)), ["cccccccc-2222-4333-8444-555555555555.jsonl"]);
  // the same path handed over exactly (as a live agent's own record would) is refused too
  const pinned = new TranscriptStore({ env: { HOME: join(dir.path, "nohome") } });
  await pinned.refresh({ agents: [{ provider: "claude-code", env: { HOME: join(dir.path, "nohome") }, cwd: null, startTime: null, pinned: [join(project, "bbbbbbbb-2222-4333-8444-555555555555.jsonl"), join(project, "aaaaaaaa-2222-4333-8444-555555555555.jsonl")] }] });
  assert.deepEqual(pinned.sessions(), []);
  void readFileSync;
});

test("cost follows what changed: a live refresh lists only the agent's project and reads only what it can be writing", async (t) => {
  const dir = tempDir();
  t.after(dir.cleanup);
  const cfg = join(dir.path, "cfg");
  const now = Date.parse("2026-11-25T10:00:00Z");
  const old = new Date(now - 3 * 24 * 3600_000);
  const { utimesSync } = await import("node:fs");
  // 2,000 sessions of other projects, and 500 old sessions of the agent's own project
  for (let p = 0; p < 20; p++) {
    const project = join(cfg, "projects", `-other-${p}`);
    mkdirSync(project, { recursive: true });
    for (let i = 0; i < 100; i++) writeFileSync(join(project, `${String(p).padStart(4, "0")}${String(i).padStart(4, "0")}-2222-4333-8444-555555555555.jsonl`), assistant(`m${p}-${i}`, "r", old.toISOString(), { input_tokens: 1 }) + "\n");
  }
  const mine = join(cfg, "projects", "-w");
  mkdirSync(mine, { recursive: true });
  for (let i = 0; i < 500; i++) {
    const f = join(mine, `9999${String(i).padStart(4, "0")}-2222-4333-8444-555555555555.jsonl`);
    writeFileSync(f, assistant(`o${i}`, "r", old.toISOString(), { input_tokens: 1 }) + "\n");
    utimesSync(f, old, old);
  }
  const live = join(mine, "11111111-2222-4333-8444-555555555555.jsonl");
  writeFileSync(live, assistant("live", "r", new Date(now - 1000).toISOString(), { input_tokens: 5 }) + "\n");
  const store = new TranscriptStore({ env: { CLAUDE_CONFIG_DIR: cfg }, now: () => now });
  const scope = { agents: [{ provider: "claude-code", env: { CLAUDE_CONFIG_DIR: cfg }, cwd: "/w", startTime: now - 60_000, pinned: [] }] };
  await store.refresh(scope);
  assert.equal(store.lastRefreshListed, 501, "only the agent's own project folder is listed");
  assert.deepEqual(store.sessions().map((s) => s.path), [live], "old sessions are not read");
  await store.refresh(scope);
  assert.equal(store.lastRefreshBytes, 0, "nothing changed, nothing read");
});
