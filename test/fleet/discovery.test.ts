import { test } from "node:test";
import assert from "node:assert/strict";
import { classify, discover } from "../../src/fleet/discovery.js";
import type { ProcInfo } from "../../src/fleet/procfs.js";

let nextPid = 100;
function proc(argv: string[], extra: Partial<ProcInfo> = {}): ProcInfo {
  return { pid: nextPid++, ppid: 1, uid: 1000, comm: argv[0]!.split("/").pop()!.slice(0, 15), argv, startTime: 0, cpuTicks: 0, rssBytes: 0, ...extra };
}

test("discovery recognises each agent however it was started", () => {
  const cases: Array<[string[], string | null]> = [
    [["claude"], "claude-code"],
    [["/home/dev/.local/bin/claude", "--model", "opus"], "claude-code"],
    [["claude", "fix it"], "claude-code"],
    [["node", "/usr/lib/node_modules/@anthropic-ai/claude-code/cli.js", "--resume"], "claude-code"],
    [["node", "--no-warnings", "/home/dev/.npm/_npx/1/node_modules/@anthropic-ai/claude-code/cli.mjs"], "claude-code"],
    [["node", "/usr/lib/node_modules/@openai/codex/bin/codex.js"], "codex"],
    [["/usr/lib/node_modules/@openai/codex/node_modules/@openai/codex-linux-x64/vendor/x86_64-unknown-linux-musl/codex/codex", "exec"], "codex"],
    [["node", "/usr/lib/node_modules/@google/gemini-cli/dist/index.js"], "gemini"],
    [["/usr/bin/python3", "/home/dev/.local/bin/aider", "--model", "sonnet"], "aider"],
    [["python3.12", "-m", "aider"], "aider"],
    [["cursor-agent", "chat"], "cursor"],
    [["opencode"], "opencode"],
    [["node", "/usr/lib/node_modules/@github/copilot/index.js"], "copilot"],
    [["node", "/usr/lib/node_modules/@sourcegraph/amp/dist/main.js"], "amp"],
    // desktop apps and helper noise
    [["/Applications/Claude.app/Contents/MacOS/Claude"], null],
    [["/opt/Claude/claude", "--type=renderer"], null],
    [["/snap/codex/12/codex"], null],
    [["/tmp/.mount_CursorXYZ/cursor"], null],
    [["/usr/lib/cursor/cursor", "--type=gpu-process"], null],
    [["/home/dev/.claude/crashpad_handler"], null],
    [["node", "/home/dev/.vscode/extensions/typescript-language-features/server.js"], null],
    [["vim", "claude.md"], null],
    [["bash"], null],
  ];
  for (const [argv, provider] of cases) assert.equal(classify(proc(argv))?.provider ?? null, provider, argv.join(" "));
  assert.equal(classify(proc(["node", "/usr/lib/node_modules/@anthropic-ai/claude-code/cli.js"]))!.reason, "node running /usr/lib/node_modules/@anthropic-ai/claude-code/cli.js");
  assert.equal(classify(proc(["claude"]))!.reason, "executable named claude");
});

test("a wrapper and its child collapse into one row; other users' processes are left out", () => {
  const wrapper = proc(["node", "/usr/lib/node_modules/@openai/codex/bin/codex.js"]);
  const child = proc(["/usr/lib/node_modules/@openai/codex/vendor/codex"], { ppid: wrapper.pid });
  const gemini = proc(["node", "/usr/lib/node_modules/@google/gemini-cli/dist/index.js"]);
  const relaunch = proc(["node", "--max-old-space-size=8192", "/usr/lib/node_modules/@google/gemini-cli/dist/index.js"], { ppid: gemini.pid });
  const someoneElse = proc(["claude"], { uid: 1001 });
  const rows = discover([wrapper, child, gemini, relaunch, someoneElse], 1000);
  assert.deepEqual(rows.map((r) => [r.proc.pid, r.provider]), [[wrapper.pid, "codex"], [gemini.pid, "gemini"]]);
});
