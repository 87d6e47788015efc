import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { appendFileSync, copyFileSync, mkdirSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { isolatedEnv, tempDir } from "../../helpers/env.js";
import { TranscriptStore } from "../../../src/fleet/transcripts/store.js";
import { clearListingCache, listingStats } from "../../../src/fleet/transcripts/listing.js";
import { claudeProjectDir } from "../../../src/fleet/transcripts/paths.js";
import { FleetCollector } from "../../../src/fleet/collector.js";

const line = (id: string, at: number, tokens: number, session?: string) =>
  JSON.stringify({ type: "assistant", ...(session ? { sessionId: session } : {}), timestamp: new Date(at).toISOString(), message: { id, model: "claude-sonnet-4-5-20250929", content: [], usage: { input_tokens: tokens, output_tokens: 1 } } }) + "\n";
const sid = (i: number) => `${String(i).padStart(8, "0")}-2222-4333-8444-555555555555`;

/** A project folder holding `n` sessions last written three days before `now`, and the folder itself unchanged since. */
function oldProject(cfg: string, cwd: string, n: number, now: number): string {
  const project = join(cfg, "projects", claudeProjectDir(cwd));
  mkdirSync(project, { recursive: true });
  const old = new Date(now - 3 * 24 * 3600_000);
  for (let i = 0; i < n; i++) {
    const f = join(project, `${sid(i)}.jsonl`);
    writeFileSync(f, line(`old${i}`, old.getTime(), 1));
    utimesSync(f, old, old);
  }
  utimesSync(project, old, old);
  return project;
}

test("a live refresh with nothing changed stats neither every file of a large project folder nor lists it again; a resumed old session is still found", async (t) => {
  const dir = tempDir();
  t.after(dir.cleanup);
  clearListingCache();
  const cfg = join(dir.path, "cfg");
  const now = Date.now();
  const project = oldProject(cfg, "/w", 3000, now);
  const live = join(project, "ffffffff-2222-4333-8444-555555555555.jsonl");
  writeFileSync(live, line("live", now - 1000, 5));
  utimesSync(project, new Date(now - 60_000), new Date(now - 60_000));
  let clock = now;
  const store = new TranscriptStore({ env: { CLAUDE_CONFIG_DIR: cfg }, now: () => clock, coldRechecks: 100 });
  // an agent that keeps no record of its session (an older Claude): its project's folder is listed
  const agent = { provider: "claude-code" as const, env: { CLAUDE_CONFIG_DIR: cfg }, cwd: "/w", startTime: now - 60_000, pinned: [] };
  await store.refresh({ agents: [agent] });
  assert.equal(store.lastRefreshListed, 3001);
  assert.equal(store.lastRefreshStats, 3001, "the first look stats every file once");
  assert.deepEqual(store.sessions().map((s) => s.path), [live]);

  const readdirs = listingStats.readdirs;
  clock += 2000;
  await store.refresh({ agents: [agent] });
  assert.equal(store.lastRefreshListed, 3001, "the same files are known");
  assert.equal(store.lastRefreshStats, 1 + 100, "nothing changed: the live session and one sweep batch are stat'ed, not 3,001 files");
  assert.equal(listingStats.readdirs, readdirs, "the unchanged folder is not read again");
  assert.equal(store.lastRefreshBytes, 0);

  // an old session resumed by the same agent: found by the rolling sweep within 3000/100 refreshes
  const resumed = join(project, `${sid(2500)}.jsonl`);
  appendFileSync(resumed, line("resumed", clock, 7));
  let refreshes = 0;
  while (!store.sessions().some((s) => s.path === resumed) && refreshes < 40) {
    clock += 2000;
    await store.refresh({ agents: [agent] });
    refreshes++;
    assert.ok(store.lastRefreshStats <= 2 + 100, `refresh ${refreshes} stats ${store.lastRefreshStats}`);
  }
  assert.ok(refreshes <= 30, `the resumed session was found after ${refreshes} refreshes`);

  // an agent started after the last look at the old files: they are all looked at again at once (a resume starts a process)
  const another = join(project, `${sid(1200)}.jsonl`);
  appendFileSync(another, line("another", clock, 9));
  clock += 2000;
  await store.refresh({ agents: [agent, { ...agent, startTime: clock - 500 }] });
  assert.ok(store.lastRefreshStats >= 3000, "a new agent in the folder: every old file is looked at again");
  assert.ok(store.sessions().some((s) => s.path === another), "and its resumed session is read");

  // a new file in the folder changes the folder: listed again, and read
  const created = join(project, "eeeeeeee-2222-4333-8444-555555555555.jsonl");
  writeFileSync(created, line("new", clock, 3));
  clock += 2000;
  await store.refresh({ agents: [agent] });
  assert.ok(store.sessions().some((s) => s.path === created));
});

test("an agent whose own record names its session: only that session's files are listed, never its project's folder", async (t) => {
  const dir = tempDir();
  t.after(dir.cleanup);
  clearListingCache();
  const cfg = join(dir.path, "cfg");
  const now = Date.now();
  const project = oldProject(cfg, "/w", 2000, now);
  const live = join(project, `${sid(99999)}.jsonl`);
  writeFileSync(live, line("live", now - 1000, 5));
  const sub = join(project, sid(99999), "subagents");
  mkdirSync(sub, { recursive: true });
  writeFileSync(join(sub, "agent-a1.jsonl"), line("sub", now - 500, 2));
  const store = new TranscriptStore({ env: { CLAUDE_CONFIG_DIR: cfg }, now: () => now });
  await store.refresh({ agents: [{ provider: "claude-code", env: { CLAUDE_CONFIG_DIR: cfg }, cwd: "/w", startTime: now - 60_000, pinned: [live], exact: true }] });
  assert.equal(store.lastRefreshListed, 2, "the session and its sub-agent run");
  assert.equal(store.lastRefreshStats, 2);
  assert.deepEqual(store.sessions().map((s) => s.path).sort(), [live, join(sub, "agent-a1.jsonl")].sort());
});

test("the collector maps a Claude with its own session record in a folder of thousands of sessions without listing the folder", async (t) => {
  const dir = tempDir();
  t.after(dir.cleanup);
  clearListingCache();
  const bin = join(dir.path, "bin");
  mkdirSync(bin);
  copyFileSync("/bin/sleep", join(bin, "claude"));
  const cwd = join(dir.path, "shop");
  mkdirSync(cwd);
  const osre = isolatedEnv(join(dir.path, "osre"));
  const cfg = osre.CLAUDE_CONFIG_DIR!;
  const now = Date.now();
  const project = oldProject(cfg, cwd, 2000, now);
  const kid = spawn(join(bin, "claude"), ["300"], { cwd, env: osre, stdio: "ignore" });
  t.after(() => kid.kill("SIGKILL"));
  await new Promise((r) => setTimeout(r, 100));
  const mine = sid(77777);
  mkdirSync(join(cfg, "sessions"));
  writeFileSync(join(cfg, "sessions", `${kid.pid}.json`), JSON.stringify({ pid: kid.pid, sessionId: mine, cwd, startedAt: Date.now() }));
  writeFileSync(join(project, `${mine}.jsonl`), line("m1", Date.now(), 11, mine));
  const collector = new FleetCollector({ home: osre.OPENSRE_HOME!, env: osre, firstSampleMs: 0, telemetry: null });
  const row = (await collector.refresh()).agents.find((a) => a.pid === kid.pid)!;
  assert.equal(row.transcript?.sessionId, mine);
  assert.ok(collector.store.listedLastRefresh(join(project, `${mine}.jsonl`)));
  for (let i = 0; i < 2000; i += 97) assert.equal(collector.store.listedLastRefresh(join(project, `${sid(i)}.jsonl`)), false, "the folder's other sessions are not listed");
});
