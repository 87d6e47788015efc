import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { closeSync, openSync, readdirSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { PtySession } from "../helpers/pty.js";
import { isolatedEnv, tempDir, WAIT_MS } from "../helpers/env.js";

test("shell end to end: /agents trace <pid> shows new lines, Ctrl+C returns to the prompt and releases the file", async (t) => {
  const dir = tempDir();
  t.after(dir.cleanup);
  const env = isolatedEnv(join(dir.path, "home"));
  const log = join(dir.path, "agent.log");
  const fd = openSync(log, "w");
  const agent = spawn(process.execPath, ["-e", "let i=0;setInterval(()=>console.log(`tick ${++i}`),100)"], { stdio: ["ignore", fd, "ignore"] });
  closeSync(fd);
  t.after(() => agent.kill("SIGKILL"));
  const pty = new PtySession(env);
  t.after(() => pty.kill());
  await pty.waitFor("> ");
  let mark = pty.text.length;
  pty.write(`/agents trace ${agent.pid}\r`);
  await pty.waitFor(`trace pid ${agent.pid}  Ctrl+C to stop`, WAIT_MS, mark);
  await pty.waitFor(/tick \d+\n(.|\n)*tick \d+\n/, WAIT_MS, mark);
  const holds = () =>
    readdirSync(`/proc/${pty.pid}/fd`).some((f) => {
      try {
        return readlinkSync(`/proc/${pty.pid}/fd/${f}`) === log;
      } catch {
        return false;
      }
    });
  assert.equal(holds(), true);
  mark = pty.text.length;
  pty.write("\x03");
  await pty.waitFor("· trace ended", WAIT_MS, mark);
  await pty.waitFor("> ", WAIT_MS, pty.text.indexOf("· trace ended", mark));
  assert.equal(holds(), false, "the descriptor is closed once the trace ends");
  pty.write("\x04");
  assert.equal(await pty.exited, 0);
});
