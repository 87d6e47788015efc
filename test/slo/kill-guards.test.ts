import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CliProcess, runCli } from "../helpers/cli.js";
import { CLI, isolatedEnv, tempDir } from "../helpers/env.js";
import { checkKill, hasExited, terminate } from "../../src/slo/kill.js";
import { processStartTime } from "../../src/fleet/procfs.js";

function setup(t: { after: (f: () => void) => void }) {
  const dir = tempDir();
  t.after(dir.cleanup);
  const home = join(dir.path, "home");
  mkdirSync(home, { mode: 0o700 });
  return { dir: dir.path, home, env: isolatedEnv(home) };
}

function sleeper(t: { after: (f: () => void) => void }, bin = "/bin/sleep"): ChildProcess {
  const p = spawn(bin, ["300"], { stdio: "ignore" });
  t.after(() => p.kill("SIGKILL"));
  return p;
}

/** A kernel thread other than kthreadd (a child of pid 2), if this machine shows one. */
function kernelThread(): number | undefined {
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name) || name === "2") continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      if (stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1] === "2") return Number(name);
    } catch {
      /* gone */
    }
  }
  return undefined;
}

test("kill refuses pid 1, kernel threads, its own ancestors and pids with spaces, even with --any --force", async (t) => {
  const { home, env } = setup(t);
  // pid 1 is never signalled: the check refuses it before any prompt (answered no, in case)
  assert.deepEqual(checkKill(home, 1, { any: true }), { ok: false, message: "refusing to kill pid 1 (the init process)" });
  const init = await runCli(["agents", "kill", "1", "--any"], { env, input: "n\n" });
  assert.deepEqual([init.code, init.stdout, init.stderr], [1, "", "refusing to kill pid 1 (the init process)\n"]);

  const kt = await runCli(["agents", "kill", "2", "--any"], { env, input: "n\n" });
  assert.equal(kt.stderr, "refusing to kill pid 2 (kthreadd): it is a kernel thread\n");
  const worker = kernelThread();
  if (worker !== undefined) {
    const w = await runCli(["agents", "kill", String(worker), "--any"], { env, input: "n\n" });
    assert.match(w.stderr, new RegExp(`^refusing to kill pid ${worker} \\(.+\\): it is a kernel thread\\n$`));
  } else t.diagnostic("no kernel thread other than kthreadd is visible here");

  // the shell opensre runs in is its ancestor: never stopped from inside
  const sh = spawnSync("/bin/sh", ["-c", `exec 3>&1; "${process.execPath}" "${CLI}" agents kill $$ --any --force; echo "code $?"`], { env, encoding: "utf8" });
  assert.match(sh.stderr, /^refusing to kill pid \d+ \(sh\): opensre runs inside it \(it is an ancestor of this process\)\n$/);
  assert.match(sh.stdout, /code 1\n$/, "the shell survived to print this");

  for (const raw of ["  42 ", " 42", "42\n"]) {
    const r = await runCli(["agents", "kill", raw, "--force"], { env });
    assert.deepEqual([r.code, r.stderr], [2, `invalid pid: ${raw.replace("\n", "\\x0a")} is not an integer\n`], JSON.stringify(raw));
  }
});

test("kill stops only agents: a discovered agent goes, a plain process needs --any", async (t) => {
  const { dir, home, env } = setup(t);
  const plain = sleeper(t);
  const r = await runCli(["agents", "kill", String(plain.pid), "--force"], { env });
  assert.deepEqual([r.code, r.stderr], [1, `refusing to kill pid ${plain.pid} (sleep): it is not an agent (neither discovered nor registered); add --any to stop it anyway\n`]);
  assert.equal(hasExited(plain.pid!), false);
  const any = await runCli(["agents", "kill", String(plain.pid), "--force", "--any"], { env });
  assert.match(any.stdout, /^Sent SIGTERM\. Process exited after \d+\.\ds\.\n$/);

  mkdirSync(join(dir, "bin"));
  copyFileSync("/bin/sleep", join(dir, "bin", "claude"));
  const agent = sleeper(t, join(dir, "bin", "claude"));
  await new Promise((res) => setTimeout(res, 100));
  const a = await runCli(["agents", "kill", String(agent.pid), "--force"], { env });
  assert.match(a.stdout, /^Sent SIGTERM\. Process exited after \d+\.\ds\.\n$/, a.stderr);
  void home;
});

test("the start time is checked again right before signalling: a pid reused while the prompt was open gets nothing", async (t) => {
  const { home, env } = setup(t);
  // in-process: a start time that is not the process's own is refused, and nothing is sent
  const p = sleeper(t);
  const wrong = await terminate(p.pid!, { startTime: (processStartTime(p.pid!) ?? 0) - 60_000 });
  assert.deepEqual(wrong, { ok: false, reason: "no-such-process", message: `pid ${p.pid} is no longer the process that was confirmed (it exited and the pid was reused); nothing was sent` });
  assert.equal(hasExited(p.pid!), false);

  if (process.getuid?.() !== 0) return void t.diagnostic("reusing a pid on purpose needs root (/proc/sys/kernel/ns_last_pid)");
  // for real: the confirmed process exits while the question is open, and its pid is handed to a new one
  const first = sleeper(t);
  const pid = first.pid!;
  const kill = new CliProcess(["agents", "kill", String(pid), "--any"], { env });
  t.after(() => kill.kill("SIGKILL"));
  await kill.waitForOutput(`About to SIGTERM pid ${pid}. Confirm? [y/N] `);
  first.kill("SIGKILL");
  await new Promise((res) => first.once("exit", res));
  let second: ChildProcess | undefined;
  for (let i = 0; i < 50 && second?.pid !== pid; i++) {
    second?.kill("SIGKILL");
    try {
      writeFileSync("/proc/sys/kernel/ns_last_pid", String(pid - 1));
    } catch {
      break;
    }
    second = spawn("/bin/sleep", ["300"], { stdio: "ignore" });
  }
  const reused = second;
  t.after(() => reused?.kill("SIGKILL"));
  if (reused?.pid !== pid) {
    kill.kill("SIGKILL");
    return void t.diagnostic(`could not hand pid ${pid} to a new process (other processes took it first)`);
  }
  kill.child.stdin!.end("y\n");
  const { code } = await kill.exited;
  assert.equal(code, 1, kill.stdout + '|' + kill.stderr);
  assert.equal(kill.stderr, `pid ${pid} is no longer the process that was confirmed (it exited and the pid was reused); nothing was sent\n`);
  assert.equal(hasExited(pid), false, "the process that took the pid over is untouched");
  void home;
});
