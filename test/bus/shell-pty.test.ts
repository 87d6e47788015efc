import { test } from "node:test";
import assert from "node:assert/strict";
import { PtySession } from "../helpers/pty.js";
import { isolatedEnv, tempDir, WAIT_MS } from "../helpers/env.js";
import { runCli } from "../helpers/cli.js";
import { buildRegistry } from "../../src/commands/index.js";
import { completeLine } from "../../src/shell/complete.js";

test("shell end to end: tab-complete /agents b, tail the bus, see a message from another process, Ctrl+C, Ctrl+D", async (t) => {
  const dir = tempDir();
  t.after(dir.cleanup);
  const env = isolatedEnv(dir.path);
  const pty = new PtySession(env);
  t.after(() => pty.kill());
  await pty.waitFor("> ", WAIT_MS);
  let mark = pty.text.length;
  const [hits] = await completeLine(buildRegistry(), "/agents b");
  pty.write("/agents b\t");
  if (hits.length === 1) {
    await pty.waitFor("/agents bus ", WAIT_MS, mark);
  } else {
    // `bus` shares its first letters with other subcommands: a second Tab lists them
    await pty.waitFor("/agents bu", WAIT_MS, mark);
    pty.write("\t");
    await pty.waitFor(/bus/, WAIT_MS, pty.text.lastIndexOf("/agents bu") + 10);
    pty.write("s");
    await pty.waitFor("/agents bus", WAIT_MS, mark);
  }
  mark = pty.text.length;
  pty.write("\r");
  await pty.waitFor("tailing /agents bus — Ctrl-C to exit", WAIT_MS, mark);
  const pub = await runCli(["agents", "publish", "--agent", "claude-code:8421", "--summary", "null deref on missing token", "--path", "services/auth.py:42"], { env });
  assert.equal(pub.code, 0, pub.stderr);
  await pty.waitFor("[claude-code:8421] services/auth.py:42 — null deref on missing token", WAIT_MS, mark);
  mark = pty.text.length;
  pty.write("\x03");
  await pty.waitFor("(detached)", WAIT_MS, mark);
  await pty.waitFor("> ", WAIT_MS, pty.text.indexOf("(detached)", mark));
  pty.write("\x04");
  assert.equal(await pty.exited, 0);
});
