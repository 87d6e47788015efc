import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../helpers/env.js";
import { claudeAdapter, claudeLiveSession, sessionRecordStats } from "../../src/fleet/transcripts/claude.js";
import { clearListingCache, listDir, listingStats } from "../../src/fleet/transcripts/listing.js";

const SID_A = "aaaaaaaa-2222-4333-8444-555555555555";
const SID_B = "bbbbbbbb-2222-4333-8444-555555555555";
const past = (dir: string) => utimesSync(dir, new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));

test("Claude's sessions/<pid>.json is read again only when it changed, and its folder is looked at once per refresh for every agent", async (t) => {
  const dir = tempDir();
  t.after(dir.cleanup);
  clearListingCache();
  const cfg = join(dir.path, "cfg");
  const sessions = join(cfg, "sessions");
  mkdirSync(sessions, { recursive: true });
  const record = join(sessions, "4242.json");
  writeFileSync(record, JSON.stringify({ pid: 4242, sessionId: SID_A, cwd: "/w", startedAt: Date.now() }));
  past(sessions);
  const env = { CLAUDE_CONFIG_DIR: cfg };
  const reads = sessionRecordStats.reads;
  assert.equal((await claudeLiveSession(4242, env, null))?.sessionId, SID_A);
  assert.equal((await claudeLiveSession(4242, env, null))?.sessionId, SID_A);
  assert.equal(sessionRecordStats.reads - reads, 1, "an unchanged record is parsed once");

  // rewritten in place (a new session after /clear): read again
  writeFileSync(record, JSON.stringify({ pid: 4242, sessionId: SID_B, cwd: "/w", startedAt: Date.now() }));
  utimesSync(record, new Date(Date.now() + 5_000), new Date(Date.now() + 5_000));
  assert.equal((await claudeLiveSession(4242, env, null))?.sessionId, SID_B);
  assert.equal(sessionRecordStats.reads - reads, 2);

  // 50 agents without a record in one refresh: the folder is looked at once, no record is opened
  const memo = new Map<string, unknown>();
  const looks = listingStats.looks;
  for (let pid = 5000; pid < 5050; pid++) assert.equal(await claudeLiveSession(pid, env, null, { pids: [pid], openFiles: [], refreshMemo: memo }), null);
  assert.equal(listingStats.looks - looks, 1, "one look at sessions/ for 50 agents");
  assert.equal(sessionRecordStats.reads - reads, 2, "and no record read");

  // a record that appears is seen by the next refresh (a new memo); a removed one names nothing
  writeFileSync(join(sessions, "5001.json"), JSON.stringify({ pid: 5001, sessionId: SID_A, cwd: "/w", startedAt: Date.now() }));
  assert.equal(await claudeLiveSession(5001, env, null, { pids: [5001], openFiles: [], refreshMemo: memo }), null, "not within the refresh that already looked");
  assert.equal((await claudeLiveSession(5001, env, null, { pids: [5001], openFiles: [], refreshMemo: new Map() }))?.sessionId, SID_A);
  rmSync(record);
  assert.equal(await claudeLiveSession(4242, env, null), null);
});

test("a session's sub-folder is looked for only when its project folder, listed moments ago, has one", async (t) => {
  const dir = tempDir();
  t.after(dir.cleanup);
  clearListingCache();
  const project = join(dir.path, "projects", "-w");
  mkdirSync(join(project, SID_B, "subagents"), { recursive: true });
  writeFileSync(join(project, `${SID_A}.jsonl`), "");
  writeFileSync(join(project, `${SID_B}.jsonl`), "");
  writeFileSync(join(project, SID_B, "subagents", "agent-1.jsonl"), "");
  past(project);
  await listDir(project);
  const looks = listingStats.looks;
  assert.deepEqual(await claudeAdapter.sessionFiles!(join(project, `${SID_A}.jsonl`)), [join(project, `${SID_A}.jsonl`)]);
  assert.equal(listingStats.looks, looks, "no sub-folder: nothing looked at");
  assert.deepEqual(await claudeAdapter.sessionFiles!(join(project, `${SID_B}.jsonl`)), [join(project, `${SID_B}.jsonl`), join(project, SID_B, "subagents", "agent-1.jsonl")]);
  // without a recent listing of the project folder, the sub-folder is looked at (a session named by its own record)
  clearListingCache();
  assert.deepEqual(await claudeAdapter.sessionFiles!(join(project, `${SID_B}.jsonl`)), [join(project, `${SID_B}.jsonl`), join(project, SID_B, "subagents", "agent-1.jsonl")]);
});
