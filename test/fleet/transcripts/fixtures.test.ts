import { test } from "node:test";
import assert from "node:assert/strict";
import { appendFileSync, cpSync, mkdirSync, readFileSync, truncateSync, writeFileSync, renameSync } from "node:fs";
import { join } from "node:path";
import { FIXTURES, tempDir } from "../../helpers/env.js";
import { TranscriptStore } from "../../../src/fleet/transcripts/store.js";
import { transcriptSignals } from "../../../src/fleet/signals.js";
import { totalTokens } from "../../../src/fleet/transcripts/parse-util.js";

const CLAUDE_FILE = "projects/-home-dev-shop/7b1e5a3c-2f4d-4c7e-9a61-0d3f8e2b9c10.jsonl";
const NOW = Date.parse("2026-11-20T10:30:00Z");

function copyFixtures(dir: string) {
  cpSync(join(FIXTURES, "claude-code"), join(dir, "claude"), { recursive: true });
  cpSync(join(FIXTURES, "codex"), join(dir, "codex"), { recursive: true });
  cpSync(join(FIXTURES, "gemini"), join(dir, "gemini"), { recursive: true });
  mkdirSync(join(dir, "repo"));
  cpSync(join(FIXTURES, "aider", ".aider.chat.history.md"), join(dir, "repo", ".aider.chat.history.md"));
  return { CLAUDE_CONFIG_DIR: join(dir, "claude"), CODEX_HOME: join(dir, "codex"), GEMINI_DIR: join(dir, "gemini"), HOME: join(dir, "nohome") };
}

async function load(t: { after: (f: () => void) => void }) {
  const dir = tempDir();
  t.after(dir.cleanup);
  const env = copyFixtures(dir.path);
  const store = new TranscriptStore({ env, now: () => NOW });
  store.addAiderRoot(join(dir.path, "repo"));
  await store.refresh();
  const byProvider = (p: string) => store.sessions().find((s) => s.provider === p)!;
  return { dir: dir.path, env, store, byProvider };
}

test("Claude Code fixture: de-duplicated figures, error rate, tool failure, write and cost", async (t) => {
  const { store, byProvider } = await load(t);
  const s = byProvider("claude-code");
  assert.equal(s.cwd, "/home/dev/shop");
  assert.equal(s.sessionId, "7b1e5a3c-2f4d-4c7e-9a61-0d3f8e2b9c10");
  assert.equal(s.model, "claude-sonnet-4-5-20250929");
  const totals = store.totals(s.path)!;
  assert.equal(totals.requests + totals.apiErrors, 4, "3 real responses + 1 synthetic error");
  assert.deepEqual(totals.usage, { input: 26, output: 447, reasoning: 0, cacheWrite5m: 4720, cacheWrite1h: 0, cacheRead: 63100 });
  assert.equal(totalTokens(totals.usage), 68_293);
  assert.equal(totals.toolFailures, 1);
  assert.equal(Math.round(totals.usd! * 1e6), 43_413); // $0.043413
  const writes = store.events(s.path).filter((e) => e.kind === "write");
  assert.deepEqual(writes, [{ kind: "write", t: Date.parse("2026-11-20T10:00:05.480Z"), path: "/home/dev/shop/services/auth.py", tool: "Edit" }]);
  const sig = transcriptSignals(s, store.events(s.path), totals, { now: Date.parse("2026-11-20T10:01:00Z"), windowMs: 60 * 60 * 1000 });
  assert.equal(sig.errorRatePct, 25);
  assert.equal(sig.toolFailures, 1);
  assert.equal(sig.turnLatencyMs?.p50, 31_700);
  assert.equal(sig.waitingForInput, true, "the turn ended: waiting for the next prompt");
});

test("Codex fixture: two turns, cached input split out, writes relative to the cwd, rate limits", async (t) => {
  const { store, byProvider } = await load(t);
  const s = byProvider("codex");
  assert.equal(s.cwd, "/home/dev/shop");
  assert.equal(s.model, "gpt-5-codex");
  const totals = store.totals(s.path)!;
  assert.equal(totals.requests, 2);
  assert.deepEqual(totals.usage, { input: 33_100 - 27_136, output: 812, reasoning: 256, cacheWrite5m: 0, cacheWrite1h: 0, cacheRead: 27_136 });
  assert.equal(Math.round(totals.usd! * 1e6), 18_967); // ≈ $0.0190
  const writes = store.events(s.path).filter((e) => e.kind === "write").map((e) => [e.t, (e as { path: string }).path]);
  const at = Date.parse("2026-11-20T10:05:09.800Z");
  assert.deepEqual(writes, [[at, "/home/dev/shop/services/auth.py"], [at, "/home/dev/shop/tests/test_missing_token.py"]]);
  const sig = transcriptSignals(s, store.events(s.path), totals, { now: Date.parse("2026-11-20T10:06:00Z") });
  assert.deepEqual(sig.rateLimits, { fiveHourPct: 15, weeklyPct: 31 });
});

test("Gemini and Aider fixtures", async (t) => {
  const { store, byProvider } = await load(t);
  const g = byProvider("gemini");
  const gt = store.totals(g.path)!;
  assert.equal(gt.usage.input + gt.usage.cacheRead, 18_820);
  assert.equal(gt.usage.cacheRead, 15_232);
  assert.equal(gt.usage.output - gt.usage.reasoning, 447);
  assert.equal(gt.usage.reasoning, 230);
  assert.deepEqual(store.events(g.path).filter((e) => e.kind === "write").map((e) => (e as { path: string }).path), ["/home/dev/shop/README.md"]);
  const a = byProvider("aider");
  const at = store.totals(a.path)!;
  assert.equal(at.requests, 2);
  assert.equal(at.usd, 0.02, "the session cost Aider reports");
  assert.equal(at.usage.input, 2300 + 3600);
  assert.equal(at.usage.cacheRead, 2900);
  assert.equal(at.usage.cacheWrite5m, 1100);
  assert.equal(at.usage.output, 245 + 118);
  assert.equal(a.model, "anthropic/claude-sonnet-4-5-20250929");
});

test("a response copied into another session file counts once; split lines, truncation and replacement", async (t) => {
  const { store, env, byProvider } = await load(t);
  const path = byProvider("claude-code").path;
  const copy = join(env.CLAUDE_CONFIG_DIR, "projects", "-home-dev-shop", "0d3f8e2b-9c10-4c7e-9a61-7b1e5a3c2f4d.jsonl");
  const lines = readFileSync(path, "utf8").split("\n");
  writeFileSync(copy, lines[1] + "\n");
  await store.refresh();
  const sum = () => store.sessions().reduce((n, s) => n + (store.totals(s.path)!.usage.output), 0) - store.totals(byProvider("codex").path)!.usage.output - store.totals(byProvider("gemini").path)!.usage.output - store.totals(byProvider("aider").path)!.usage.output;
  assert.equal(sum(), 447, "the copied response is not counted again");

  // a new response written in two pieces, across two refreshes
  const line = JSON.stringify({ type: "assistant", timestamp: "2026-11-20T10:29:00.000Z", cwd: "/home/dev/shop", requestId: "req_new", message: { id: "msg_new", model: "claude-sonnet-4-5-20250929", content: [{ type: "text", text: "é done" }], usage: { input_tokens: 1000, output_tokens: 100 } } });
  const bytes = Buffer.from(line + "\n");
  const cut = bytes.indexOf(Buffer.from("é")) + 1; // in the middle of a two-byte character
  appendFileSync(path, bytes.subarray(0, cut));
  await store.refresh();
  assert.equal(store.totals(path)!.usage.input, 26);
  appendFileSync(path, bytes.subarray(cut));
  await store.refresh();
  assert.equal(store.totals(path)!.usage.input, 1026);
  assert.equal(store.events(path).some((e) => e.kind === "assistant_text" && e.text === "é done"), true);
  assert.equal(store.drainWarnings().length, 0);

  truncateSync(path, 0);
  appendFileSync(path, line + "\n");
  await store.refresh();
  assert.equal(store.totals(path)!.usage.input, 1000);
  assert.deepEqual(store.drainWarnings(), [`${path}: truncated; re-reading from the start`]);

  const other = path + ".new";
  writeFileSync(other, lines[0] + "\nnot json\n");
  renameSync(other, path);
  await store.refresh();
  assert.equal(store.totals(path)!.requests, 0);
  assert.deepEqual(store.drainWarnings(), [`${path}: replaced; re-reading from the start`, `${path}: skipped 1 unparseable line(s)`]);
});
