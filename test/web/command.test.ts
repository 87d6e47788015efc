import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CliProcess, runCli } from "../helpers/cli.js";
import { PtySession } from "../helpers/pty.js";
import { isolatedEnv, tempDir, WAIT_MS } from "../helpers/env.js";
import { NOT_LOOPBACK, WEB_STOPPED } from "../../src/commands/web.js";
import { isLoopback } from "../../src/web/security.js";

function setup(t: { after: (f: () => void) => void }) {
  const dir = tempDir();
  t.after(dir.cleanup);
  return isolatedEnv(join(dir.path, "home"));
}

test("agents web: bad flags are usage errors with the exact words", async (t) => {
  const env = setup(t);
  const cases: [string[], string][] = [
    [["--port", "abc"], "invalid --port: abc is not an integer"],
    [["--port", "70000"], "invalid --port: must be an integer ≤ 65535"],
    [["--interval", "0.1"], "invalid --interval: 0.1 (seconds, at least 0.5)"],
    [["--host", "a b"], "invalid --host: a b (an address such as 127.0.0.1 or ::1)"],
    [["extra"], "usage: /agents web [--port 7464] [--host 127.0.0.1] [--open] [--interval S]"],
  ];
  for (const [args, message] of cases) {
    const r = await runCli(["agents", "web", ...args], { env });
    assert.equal(r.code, 2, args.join(" "));
    assert.equal(r.stderr.trim().split("\n")[0], message);
  }
});

/** A directory holding only an `xdg-open` script with this body (or nothing), to stand for the desktop's opener. */
function fakeOpener(root: string, name: string, body: string | null): string {
  const bin = join(root, name);
  mkdirSync(bin);
  if (body !== null) {
    writeFileSync(join(bin, "xdg-open"), `#!/bin/sh\n${body}\n`);
    chmodSync(join(bin, "xdg-open"), 0o755);
  }
  return bin;
}

async function startWeb(t: { after: (f: () => void) => void }, args: string[], env: NodeJS.ProcessEnv, until: (o: string, e: string) => boolean): Promise<{ web: CliProcess; url: string }> {
  const web = new CliProcess(["agents", "web", "--port", "0", ...args], { env });
  t.after(() => web.kill("SIGKILL"));
  await web.waitFor(until, WAIT_MS, "the URL");
  return { web, url: /dashboard on (\S+)/.exec(web.stdout)![1]! };
}

test("agents web: a port in use is refused with the reason", async (t) => {
  const env = setup(t);
  const busy = createServer();
  await new Promise<void>((r) => busy.listen(0, "127.0.0.1", () => r()));
  t.after(() => busy.close());
  const port = (busy.address() as import("node:net").AddressInfo).port;
  const r = await runCli(["agents", "web", "--port", String(port)], { env });
  assert.equal(r.code, 1);
  assert.equal(r.stdout, "");
  assert.equal(r.stderr.trim(), `cannot listen on 127.0.0.1:${port}: the port is in use (another dashboard? choose one with --port)`);
});

test("agents web --open: the desktop's opener gets the URL with its token; Ctrl+C stops the server", async (t) => {
  const dir = tempDir();
  t.after(dir.cleanup);
  const env = isolatedEnv(join(dir.path, "home"));
  const opened = join(dir.path, "opened");
  const bin = fakeOpener(dir.path, "bin", `printf '%s' "$1" > '${opened}'`);
  const { web, url } = await startWeb(t, ["--open"], { ...env, PATH: bin }, (o) => /q or Ctrl\+C to stop\n/.test(o));
  assert.match(web.stdout, /^dashboard on http:\/\/127\.0\.0\.1:\d+\/\?token=[A-Za-z0-9_-]{32}\nthe token in the URL is required on every request; q or Ctrl\+C to stop\n/);
  const deadline = Date.now() + WAIT_MS;
  while (!existsSync(opened) || readFileSync(opened, "utf8") === "") {
    assert.ok(Date.now() < deadline, "xdg-open was not called");
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(readFileSync(opened, "utf8"), url);
  assert.equal((await fetch(url)).status, 200);
  await new Promise((r) => setTimeout(r, 200)); // a warning, if any, would come after the opener exits
  assert.equal(web.stderr, "");
  web.child.kill("SIGINT");
  const end = await web.exited;
  assert.equal(end.code, 0);
  assert.equal(web.stderr, "", "no warning about the opener, up to the end");
  assert.ok(web.stdout.endsWith(WEB_STOPPED + "\n"), web.stdout);
  await assert.rejects(fetch(url), "the port is closed");
});

test("agents web --open with no opener, or one that fails: a warning, and the dashboard serves anyway", async (t) => {
  const dir = tempDir();
  t.after(dir.cleanup);
  const env = isolatedEnv(join(dir.path, "home"));
  const none = fakeOpener(dir.path, "none", null);
  const a = await startWeb(t, ["--open"], { ...env, PATH: none }, (o, e) => /q or Ctrl\+C to stop\n/.test(o) && /could not open/.test(e));
  assert.equal(a.web.stderr, "warning: could not open a browser (xdg-open: spawn xdg-open ENOENT); open the URL above\n");
  assert.equal((await fetch(a.url)).status, 200);

  // xdg-open's status 3: no browser registered for http (a machine without a desktop)
  const failing = fakeOpener(dir.path, "failing", "exit 3");
  const b = await startWeb(t, ["--open"], { ...env, PATH: failing }, (o, e) => /q or Ctrl\+C to stop\n/.test(o) && /could not open/.test(e));
  assert.equal(b.web.stderr, "warning: could not open a browser (xdg-open exited with status 3); open the URL above\n");
  assert.equal((await fetch(b.url)).status, 200);
  b.web.child.kill("SIGINT");
  assert.equal((await b.web.exited).code, 0);
});

test("/agents web in the shell, on a terminal: serves, and q stops it and returns to the prompt", async (t) => {
  const env = setup(t);
  const shell = new PtySession(env);
  t.after(() => shell.kill());
  await shell.waitFor("> ", WAIT_MS);
  shell.write("/agents web --port 0\r");
  const at = await shell.waitFor(/q or Ctrl\+C to stop/, WAIT_MS);
  const url = /dashboard on (\S+)/.exec(shell.text)![1]!;
  assert.equal((await fetch(url)).status, 200);
  shell.write("q");
  await shell.waitFor(WEB_STOPPED, WAIT_MS, at);
  await assert.rejects(fetch(url), "the port is closed");
  shell.write("/exit\r");
  assert.equal(await shell.exited, 0);
});

test("agents web --host ::1: another loopback address, served with its own URL and no warning", async (t) => {
  const env = setup(t);
  const web = new CliProcess(["agents", "web", "--port", "0", "--host", "::1"], { env });
  t.after(() => web.kill("SIGKILL"));
  await web.waitForOutput("dashboard on", WAIT_MS);
  const url = /dashboard on (\S+)/.exec(web.stdout)![1]!;
  assert.match(url, /^http:\/\/\[::1\]:\d+\/\?token=/);
  assert.equal((await fetch(url)).status, 200);
  assert.equal(web.stderr, "");
  assert.ok(isLoopback("127.0.0.2") && isLoopback("::1") && isLoopback("localhost"));
  assert.ok(!isLoopback("0.0.0.0") && !isLoopback("192.0.2.1") && !isLoopback("::"));
  assert.equal(NOT_LOOPBACK("0.0.0.0"), "warning: listening on 0.0.0.0, reachable from other machines; anyone with the URL (its token) can act on your agents");
});
