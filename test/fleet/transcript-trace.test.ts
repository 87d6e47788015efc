import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { appendFileSync, copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CliProcess, runCli } from "../helpers/cli.js";
import { isolatedEnv, tempDir } from "../helpers/env.js";
import { claudeProjectDir } from "../../src/fleet/transcripts/match.js";

test("trace --transcript follows the session transcript of an agent on a terminal as readable lines", async (t) => {
  const dir = tempDir();
  t.after(dir.cleanup);
  const bin = join(dir.path, "bin");
  const shop = join(dir.path, "shop");
  mkdirSync(bin);
  mkdirSync(shop);
  copyFileSync("/bin/sleep", join(bin, "claude"));
  const env = isolatedEnv(join(dir.path, "home"));
  const agent = spawn(join(bin, "claude"), ["300"], { cwd: shop, stdio: "ignore" });
  t.after(() => agent.kill("SIGKILL"));
  await new Promise((r) => setTimeout(r, 50));
  const project = join(env.CLAUDE_CONFIG_DIR!, "projects", claudeProjectDir(shop));
  mkdirSync(project, { recursive: true });
  const file = join(project, "22222222-2222-4333-8444-555555555555.jsonl");
  const line = (o: object) => JSON.stringify({ cwd: shop, sessionId: "22222222-2222-4333-8444-555555555555", timestamp: new Date().toISOString(), ...o }) + "\n";
  writeFileSync(file, line({ type: "user", message: { role: "user", content: "an old prompt" } }));

  const tr = new CliProcess(["agents", "trace", String(agent.pid), "--transcript"], { env });
  t.after(() => tr.kill("SIGKILL"));
  await tr.waitForOutput(`trace pid ${agent.pid} transcript ${file}  Ctrl+C to stop\n`);
  appendFileSync(file, line({ type: "user", message: { role: "user", content: "fix the auth bug" } }));
  appendFileSync(file, line({ type: "assistant", requestId: "r1", message: { id: "m1", model: "claude-sonnet-4-5-20250929", content: [{ type: "tool_use", id: "tu1", name: "Edit", input: { file_path: join(shop, "auth.py") } }], usage: { input_tokens: 5, output_tokens: 5 } } }));
  appendFileSync(file, line({ type: "user", message: { role: "user", content: [{ type: "tool_result", tool_use_id: "tu1", content: "permission denied", is_error: true }] } }));
  appendFileSync(file, line({ type: "assistant", isApiErrorMessage: true, message: { id: "e1", model: "<synthetic>", content: [{ type: "text", text: "API Error: 529 overloaded" }] } }));
  appendFileSync(file, line({ type: "assistant", requestId: "r2", message: { id: "m2", model: "claude-sonnet-4-5-20250929", content: [{ type: "text", text: "Fixed." }], stop_reason: "end_turn", usage: { input_tokens: 5, output_tokens: 5 } } }));
  await tr.waitForOutput("· turn ended; waiting for the next prompt\n");
  tr.kill("SIGINT");
  assert.equal((await tr.exited).code, 0);
  assert.equal(
    tr.stdout.split("\n").slice(1).join("\n"),
    [
      "> fix the auth bug",
      `· tool Edit ${join(shop, "auth.py")}`,
      "✗ tool Edit failed: permission denied",
      "! api error 529: API Error: 529 overloaded",
      "· turn ended in an API error; waiting for the next prompt",
      "< Fixed.",
      "· turn ended; waiting for the next prompt",
      "· trace ended",
      "",
    ].join("\n"),
  );

  const none = spawn("/bin/sleep", ["300"], { stdio: "ignore" });
  t.after(() => none.kill("SIGKILL"));
  const r = await runCli(["agents", "trace", String(none.pid), "--transcript"], { env });
  assert.equal(r.stderr, `cannot trace pid ${none.pid} transcript: pid ${none.pid} is not a known agent (register it with its provider, or run /agents scan --explain)\n`);
});
