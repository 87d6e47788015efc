import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { runCli } from "../helpers/cli.js";
import { CLI, isolatedEnv, tempDir } from "../helpers/env.js";
import { registerAgent } from "../../src/fleet/registry.js";
import { HOOK_STDIN_TIMEOUT_MS } from "../../src/commands/hook.js";

function setup(t: { after: (f: () => void) => void }) {
  const dir = tempDir();
  t.after(dir.cleanup);
  const home = join(dir.path, "home");
  mkdirSync(home);
  return { dir: dir.path, home, env: isolatedEnv(home) };
}

/** Run the hook with stdin left open; `send` is written (or nothing). Resolves exit code, stderr and seconds taken. */
function hookOpenStdin(env: NodeJS.ProcessEnv, send: string | null, args: string[] = []): Promise<{ code: number | null; stderr: string; seconds: number }> {
  const t0 = Date.now();
  const child = spawn(process.execPath, [CLI, "agents", "hook", "claude-pretool", ...args], { env, stdio: ["pipe", "ignore", "pipe"] });
  let stderr = "";
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  if (send !== null) child.stdin!.write(send);
  const kill = setTimeout(() => child.kill("SIGKILL"), 60_000);
  return new Promise((resolve) =>
    child.on("close", (code) => {
      clearTimeout(kill);
      child.stdin!.destroy();
      resolve({ code, stderr, seconds: (Date.now() - t0) / 1000 });
    }),
  );
}

test("the hook never hangs on stdin: nothing sent and never closed allows the edit; JSON without end of input is decided at once", async (t) => {
  const { home, env } = setup(t);
  const silent = await hookOpenStdin(env, null);
  assert.deepEqual([silent.code, silent.stderr], [0, `opensre hook: no hook JSON on stdin within ${HOOK_STDIN_TIMEOUT_MS / 1000}s; allowing\n`]);
  assert.ok(silent.seconds < 30, `took ${silent.seconds}s`);

  // a path claim by another live agent: the hook JSON arrives, stdin stays open, the block still comes
  const holder = spawn("/bin/sleep", ["300"], { stdio: "ignore" });
  t.after(() => holder.kill("SIGKILL"));
  await registerAgent(home, { pid: holder.pid!, name: "owner", provider: "claude-code", command: "sleep" });
  assert.equal((await runCli(["agents", "claim", "--path", "/srv/app/**", "owner"], { env })).code, 0);
  // (were end of input awaited, this would time out and allow with exit 0)
  const open = await hookOpenStdin(env, JSON.stringify({ tool_name: "Edit", tool_input: { file_path: "/srv/app/x.py" }, cwd: "/" }) + "\n");
  assert.equal(open.code, 2, open.stderr);
  assert.equal(open.stderr, `blocked by opensre: /srv/app/x.py is claimed by owner (pid ${holder.pid}) (claim /srv/app/**); ask it to release the claim\n`);

  // half a JSON object and then silence: allowed after the stdin limit
  const half = await hookOpenStdin(env, '{"tool_name": "Edit", "tool_input": {');
  assert.deepEqual([half.code, half.stderr], [0, `opensre hook: no hook JSON on stdin within ${HOOK_STDIN_TIMEOUT_MS / 1000}s; allowing\n`]);
});

test("the hook's own usage errors exit 1 (a hook error), never 2 (which Claude Code reads as: block)", async (t) => {
  const { env } = setup(t);
  const wrong = await runCli(["agents", "hook", "claude-pretol"], { env, input: "{}" });
  assert.deepEqual([wrong.code, wrong.stderr], [1, "usage: /agents hook claude-pretool [--window S]\n"]);
  const none = await runCli(["agents", "hook"], { env, input: "{}" });
  assert.equal(none.code, 1);
  const flag = await runCli(["agents", "hook", "claude-pretool", "--window", "x"], { env, input: "{}" });
  assert.deepEqual([flag.code, flag.stderr], [1, "invalid --window: x\n"]);
  const unknown = await runCli(["agents", "hook", "claude-pretool", "--bogus"], { env, input: "{}" });
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /^Unknown option '--bogus'\nusage: \/agents hook claude-pretool \[--window S\]\n$/);
  const array = await runCli(["agents", "hook", "claude-pretool"], { env, input: "[1,2]" });
  assert.deepEqual([array.code, array.stderr], [0, "opensre hook: stdin is not hook JSON; allowing\n"]);
});
