import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PtySession } from "../helpers/pty.js";
import { isolatedEnv, tempDir, WAIT_MS } from "../helpers/env.js";
import { registerAgent, readRegistry } from "../../src/fleet/registry.js";

test("/agents --watch opens the live view and leaves it on q and on Ctrl+C; the shell sweeps dead pids at start", async (t) => {
  const dir = tempDir();
  t.after(dir.cleanup);
  const env = isolatedEnv(join(dir.path, "home"));
  const home = env.OPENSRE_HOME!;
  const live = spawn("/bin/sleep", ["300"], { stdio: "ignore" });
  t.after(() => live.kill("SIGKILL"));
  await registerAgent(home, { pid: live.pid!, name: "reviewer" });
  const dead = spawn("/bin/sleep", ["0"]);
  await new Promise((r) => dead.on("exit", r));
  await registerAgent(home, { pid: dead.pid!, name: "gone" });
  // a corrupt line is kept and reported, never fatal
  writeFileSync(join(home, "agents.jsonl"), readFileSync(join(home, "agents.jsonl"), "utf8") + "{oops\n");

  const pty = new PtySession(env);
  t.after(() => pty.kill());
  await pty.waitFor("removed 1 exited agent from the registry");
  await pty.waitFor("> ");
  assert.deepEqual(readRegistry(home).records.map((r) => r.name), ["reviewer"]);
  let mark = pty.text.length;
  pty.write("/agents --watch --interval 0.3\r");
  // on a terminal, --watch is the live view (test/tui/live-view.test.ts has its flows)
  await pty.waitFor("opensre top", WAIT_MS, mark);
  // other agents on the machine may push the row off screen: filtered to it
  pty.write("/reviewer\r");
  await pty.waitFor(/reviewer +\d+/, WAIT_MS, mark);
  mark = pty.text.length;
  pty.write("q");
  await pty.waitFor("> ", WAIT_MS, mark);
  mark = pty.text.length;
  pty.write("/agents --watch\r");
  await pty.waitFor("opensre top", WAIT_MS, mark);
  mark = pty.text.length;
  pty.write("\x03");
  await pty.waitFor("> ", WAIT_MS, mark);
  pty.write("\x04");
  assert.equal(await pty.exited, 0);
});
