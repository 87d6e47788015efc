import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Socket } from "node:net";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir, WAIT_MS } from "../helpers/env.js";
import { NOTIFY_STDERR_BYTES, runNotifyCommand } from "../../src/slo/watchdog.js";
import { hasExited } from "../../src/slo/kill.js";

async function waitGone(pid: number, ms = WAIT_MS): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (hasExited(pid)) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return hasExited(pid);
}

test("notify command: at the time limit the whole process group is killed, children included", async (t) => {
  const dir = tempDir();
  t.after(dir.cleanup);
  const pidFile = join(dir.path, "child.pid");
  // the shell forks a child that never ends (a stalled `curl`): killing only the shell would leave it holding the pipes
  const t0 = Date.now();
  const problem = await runNotifyCommand(`sleep 300 & echo $! > '${pidFile}'; wait`, { id: "x" }, process.env, 1000);
  const took = Date.now() - t0;
  assert.equal(problem, "timed out after 1s");
  assert.ok(took < 4000, `gave up after ${took} ms, not at the limit`);
  const child = Number(readFileSync(pidFile, "utf8"));
  assert.ok(await waitGone(child), `the forked child ${child} is still running`);
});

test("notify command: a stalled HTTP server cannot hold the watchdog past the limit", async (t) => {
  const held: Socket[] = [];
  const server = createServer((s) => held.push(s)); // accepts, never answers
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.after(() => {
    for (const s of held) s.destroy();
    server.close();
  });
  const port = (server.address() as { port: number }).port;
  const client = `const s=require("net").connect(${port},"127.0.0.1",()=>s.write("POST / HTTP/1.1\\r\\n\\r\\n"));s.on("data",()=>process.exit(0))`;
  const t0 = Date.now();
  const problem = await runNotifyCommand(`"${process.execPath}" -e '${client}'; echo done`, { id: "x" }, process.env, 1500);
  assert.equal(problem, "timed out after 1.5s");
  assert.ok(Date.now() - t0 < 5000);
});

test("notify command: failures name the exit code and the last stderr line, bounded; a backgrounded child is not waited for", async (t) => {
  const dir = tempDir();
  t.after(dir.cleanup);
  assert.equal(await runNotifyCommand("cat > /dev/null; echo first >&2; echo boom >&2; exit 3", { id: "x" }, process.env), "exited with code 3: boom");
  const long = await runNotifyCommand(`head -c 1000000 /dev/zero | tr '\\0' x >&2; exit 1`, { id: "x" }, process.env);
  assert.ok(long !== null && long.startsWith("exited with code 1: xxx"), String(long));
  assert.ok(long.length <= "exited with code 1: ".length + NOTIFY_STDERR_BYTES, `stderr kept: ${long.length}`);
  assert.equal(await runNotifyCommand("cat > /dev/null", { id: "x" }, process.env), null);
  // a command that leaves a child running with stderr open returns when the shell exits
  const t0 = Date.now();
  const pidFile = join(dir.path, "bg.pid");
  assert.equal(await runNotifyCommand(`sleep 30 >&2 & echo $! > '${pidFile}'; exit 0`, { id: "x" }, process.env, 20_000), null);
  assert.ok(Date.now() - t0 < 5000, "did not wait for the backgrounded child");
  process.kill(Number(readFileSync(pidFile, "utf8")), "SIGKILL");
});
