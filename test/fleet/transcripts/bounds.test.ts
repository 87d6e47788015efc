import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../../helpers/env.js";
import { TranscriptStore } from "../../../src/fleet/transcripts/store.js";
import { clearListingCache, listDir, listingLimits, listingStats, MAX_CACHED_NAMES } from "../../../src/fleet/transcripts/listing.js";
import { claudeProjectDir } from "../../../src/fleet/transcripts/paths.js";

const line = (id: string, at: number, tokens: number) =>
  JSON.stringify({ type: "assistant", timestamp: new Date(at).toISOString(), message: { id, model: "claude-sonnet-4-5-20250929", content: [], usage: { input_tokens: tokens, output_tokens: 1 } } }) + "\n";
const sid = (i: number) => `${String(i).padStart(8, "0")}-2222-4333-8444-555555555555`;
const DAY = 24 * 3600_000;

/** Writes `path` with `text`, last modified at `at`. */
function writeAt(path: string, text: string, at: number): void {
  writeFileSync(path, text);
  utimesSync(path, new Date(at), new Date(at));
}

/** A Claude project folder of `n` sessions written three days ago, each (with `subFolders`) with a sub-agent run in `<session>/subagents/`. */
function oldProject(cfg: string, cwd: string, n: number, now: number, subFolders = false): string {
  const project = join(cfg, "projects", claudeProjectDir(cwd));
  mkdirSync(project, { recursive: true });
  const old = now - 3 * DAY;
  for (let i = 0; i < n; i++) {
    writeAt(join(project, `${sid(i)}.jsonl`), line(`old${i}`, old, 1), old);
    if (!subFolders) continue;
    const sub = join(project, sid(i), "subagents");
    mkdirSync(sub, { recursive: true });
    writeAt(join(sub, "agent-a1.jsonl"), line(`old-sub${i}`, old, 1), old);
    utimesSync(sub, new Date(old), new Date(old));
    utimesSync(join(project, sid(i)), new Date(old), new Date(old));
  }
  utimesSync(project, new Date(old), new Date(old));
  return project;
}

const agentIn = (cfg: string, cwd: string, startTime: number) => ({ provider: "claude-code" as const, env: { CLAUDE_CONFIG_DIR: cfg }, cwd, startTime, pinned: [] });

test("old sessions with a sub-folder each: a live refresh with nothing changed looks at no sub-folder; the live session's sub-agent runs are still read", async (t) => {
  const dir = tempDir();
  t.after(dir.cleanup);
  clearListingCache();
  const cfg = join(dir.path, "cfg");
  const now = Date.now();
  const project = oldProject(cfg, "/w", 400, now, true);
  const live = join(project, "ffffffff-2222-4333-8444-555555555555.jsonl");
  writeAt(live, line("live", now - 1000, 5), now - 1000);
  const liveSub = join(project, "ffffffff-2222-4333-8444-555555555555", "subagents");
  mkdirSync(liveSub, { recursive: true });
  writeAt(join(liveSub, "agent-b2.jsonl"), line("live-sub", now - 900, 3), now - 900);
  utimesSync(project, new Date(now - 60_000), new Date(now - 60_000));
  let clock = now;
  const store = new TranscriptStore({ env: { CLAUDE_CONFIG_DIR: cfg }, now: () => clock, coldRechecks: 50 });
  const agent = agentIn(cfg, "/w", now - 60_000);

  let looks = listingStats.looks;
  await store.refresh({ agents: [agent] });
  assert.deepEqual(store.sessions().map((s) => s.path).sort(), [live, join(liveSub, "agent-b2.jsonl")].sort(), "the live session and its sub-agent run");
  assert.equal(store.totals(join(liveSub, "agent-b2.jsonl"))?.requests, 1);
  assert.ok(listingStats.looks - looks <= 4, `the first look opened ${listingStats.looks - looks} folders, not one per old session`);
  assert.equal(store.lastRefreshStats, 401 + 1, "every session of the folder once, and the live session's sub-agent run");

  clock += 2000;
  looks = listingStats.looks;
  await store.refresh({ agents: [agent] });
  assert.ok(listingStats.looks - looks <= 4, `a refresh with nothing changed looked at ${listingStats.looks - looks} folders (400 old sessions with a sub-folder each)`);
  assert.equal(store.lastRefreshStats, 1 + 50 + 1, "the live session, one sweep batch and the live sub-agent run");

  // a new sub-agent run of the live session is found at once
  writeAt(join(liveSub, "agent-c3.jsonl"), line("live-sub2", clock, 4), clock);
  clock += 3000;
  await store.refresh({ agents: [agent] });
  assert.equal(store.totals(join(liveSub, "agent-c3.jsonl"))?.requests, 1);

  // an old session resumed in place, with a new sub-agent run: both read once the sweep comes back to it
  const resumed = join(project, `${sid(399)}.jsonl`);
  writeFileSync(resumed, line(`old399`, now - 3 * DAY, 1) + line("resumed", clock, 7));
  writeFileSync(join(project, sid(399), "subagents", "agent-d4.jsonl"), line("resumed-sub", clock, 2));
  for (let i = 0; i < 10 && !store.totals(resumed); i++) {
    clock += 2000;
    await store.refresh({ agents: [agent] });
  }
  assert.equal(store.totals(resumed)?.requests, 2, "the resumed session is read whole");
  clock += 2000;
  await store.refresh({ agents: [agent] });
  assert.equal(store.totals(join(project, sid(399), "subagents", "agent-d4.jsonl"))?.requests, 1, "with its new sub-agent run");
});

test("past MAX_COLD_FILES old files are not remembered as old: they are looked at on every refresh, and the live session is still found", async (t) => {
  const dir = tempDir();
  t.after(dir.cleanup);
  clearListingCache();
  const cfg = join(dir.path, "cfg");
  const now = Date.now();
  const project = oldProject(cfg, "/w", 300, now);
  const live = join(project, "ffffffff-2222-4333-8444-555555555555.jsonl");
  writeAt(live, line("live", now - 1000, 5), now - 1000);
  utimesSync(project, new Date(now - 60_000), new Date(now - 60_000));
  let clock = now;
  const store = new TranscriptStore({ env: { CLAUDE_CONFIG_DIR: cfg }, now: () => clock, coldRechecks: 20, maxColdFiles: 100 });
  const agent = agentIn(cfg, "/w", now - 60_000);
  await store.refresh({ agents: [agent] });
  assert.equal(store.lastRefreshStats, 301);
  for (let i = 0; i < 3; i++) {
    clock += 2000;
    await store.refresh({ agents: [agent] });
    // 100 remembered as old (20 of them swept per refresh); the other 200 and the live one every time
    assert.equal(store.lastRefreshStats, 200 + 1 + 20, `refresh ${i + 2}`);
    assert.deepEqual(store.sessions().map((s) => s.path), [live]);
    assert.equal(store.lastRefreshBytes, 0, "nothing changed: nothing read");
  }
  // an old file past the bound, resumed: found on the next refresh
  const resumed = join(project, `${sid(299)}.jsonl`);
  writeFileSync(resumed, line("old299", now - 3 * DAY, 1) + line("resumed", clock, 7));
  clock += 2000;
  await store.refresh({ agents: [agent] });
  assert.equal(store.totals(resumed)?.requests, 2);
});

test("past MAX_CACHED_NAMES the least recently used listings are let go and listed again; a folder larger than the bound is never kept, and still mapped", async (t) => {
  const dir = tempDir();
  t.after(dir.cleanup);
  t.after(() => {
    listingLimits.maxCachedNames = MAX_CACHED_NAMES;
    clearListingCache();
  });
  clearListingCache();
  listingLimits.maxCachedNames = 100;
  const now = Date.now();
  const folder = (name: string, n: number) => {
    const d = join(dir.path, name);
    mkdirSync(d);
    for (let i = 0; i < n; i++) writeFileSync(join(d, `${i}.jsonl`), "");
    utimesSync(d, new Date(now - 60_000), new Date(now - 60_000));
    return d;
  };
  const a = folder("a", 60);
  const b = folder("b", 30);
  const c = folder("c", 30);
  let readdirs = listingStats.readdirs;
  const first = await listDir(a);
  await listDir(b); // 90 names kept
  assert.equal(await listDir(a), first, "kept: the same listing");
  assert.equal(listingStats.readdirs - readdirs, 2);
  await listDir(c); // 120 > 100: the least recently used (b) is let go
  readdirs = listingStats.readdirs;
  assert.equal(await listDir(a), first, "a was used more recently than b: still kept");
  assert.equal(listingStats.readdirs, readdirs);
  await listDir(b);
  assert.equal(listingStats.readdirs, readdirs + 1, "b is listed again");

  // a project folder of 150 sessions, more than the bound alone: listed on every refresh, never kept, the mapping still right
  clearListingCache();
  const cfg = join(dir.path, "cfg");
  const project = oldProject(cfg, "/w", 150, now);
  const live = join(project, "ffffffff-2222-4333-8444-555555555555.jsonl");
  writeAt(live, line("live", now - 1000, 5), now - 1000);
  utimesSync(project, new Date(now - 60_000), new Date(now - 60_000));
  let clock = now;
  const store = new TranscriptStore({ env: { CLAUDE_CONFIG_DIR: cfg }, now: () => clock, coldRechecks: 10 });
  const agent = agentIn(cfg, "/w", now - 60_000);
  await store.refresh({ agents: [agent] });
  for (let i = 0; i < 3; i++) {
    clock += 2000;
    readdirs = listingStats.readdirs;
    await store.refresh({ agents: [agent] });
    assert.equal(listingStats.readdirs - readdirs, 1, "the folder is read again (not kept)");
    assert.equal(store.lastRefreshStats, 1 + 10, "but its old files stay known as old: the live one and a sweep batch");
    assert.deepEqual(store.sessions().map((s) => s.path), [live]);
  }
});
