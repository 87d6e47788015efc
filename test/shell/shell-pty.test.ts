import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { PtySession } from "../helpers/pty.js";
import { isolatedEnv, tempDir, WAIT_MS } from "../helpers/env.js";
import { runCli } from "../helpers/cli.js";

test("the shell runs /help, reports unknown commands, clears a line on Ctrl+C, exits on Ctrl+D and keeps history", async (t) => {
  const dir = tempDir();
  t.after(dir.cleanup);
  const env = isolatedEnv(dir.path);
  const pty = new PtySession(env);
  t.after(() => pty.kill());
  await pty.waitFor("> ");
  pty.write("/help\r");
  await pty.waitFor(/\/exit +leave the shell \(or \/quit, or Ctrl\+D\)/);
  let mark = pty.text.length;
  pty.write("/nothing here\r");
  await pty.waitFor("unknown command: /nothing here  (try /help)", WAIT_MS, mark);
  mark = pty.text.length;
  pty.write("half typed\x03");
  await pty.waitFor("^C", WAIT_MS, mark);
  await pty.waitFor("> ", WAIT_MS, mark);
  pty.write("\x04");
  assert.equal(await pty.exited, 0);
  const history = readFileSync(join(dir.path, "history"), "utf8");
  assert.equal(history, "/help\n/nothing here\n");
});

test("the home directory is created 0700 and piped shells run line by line", async (t) => {
  const dir = tempDir();
  t.after(dir.cleanup);
  const home = join(dir.path, "nested", "home");
  const r = await runCli([], { env: isolatedEnv(home), input: "/help\n\nnot slash\n/exit\n/help\n" });
  assert.equal(existsSync(home), true);
  const { statSync } = await import("node:fs");
  assert.equal(statSync(home).mode & 0o777, 0o700);
  assert.match(r.stdout, /\/help \[command\] +show this help/);
  assert.match(r.stdout, /^\/agents bus \[--json\] +tail the local bus/m);
  assert.equal(r.stdout.match(/show this help/g)?.length, 1, "nothing runs after /exit");
  assert.equal(r.stderr, "not a command: not slash  (slash commands start with /; try /help)\n");
});

test("the CLI reports unknown commands with exit 2 and prints its version", async (t) => {
  const dir = tempDir();
  t.after(dir.cleanup);
  const env = isolatedEnv(dir.path);
  const r = await runCli(["agents", "frobnicate"], { env });
  assert.equal(r.code, 2);
  assert.equal(r.stderr, "unknown command: agents frobnicate  (try opensre --help)\n");
  const v = await runCli(["--version"], { env });
  assert.match(v.stdout, /^opensre-agents \d+\.\d+\.\d+\n$/);
});
