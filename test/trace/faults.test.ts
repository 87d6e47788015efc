import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { appendFileSync, closeSync, mkdirSync, openSync, readFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { CliProcess } from "../helpers/cli.js";
import { CLI, isolatedEnv, tempDir } from "../helpers/env.js";
import { collectEvidence } from "../../src/slo/watchdog.js";
import type { FleetAgent } from "../../src/fleet/model.js";
import { MAX_PENDING_OUTPUT_BYTES } from "../../src/trace/pending.js";

/** Copies its stdin to its stdout, byte for byte. */
const COPIER = `const fs=require("fs");process.stdin.on("data",d=>fs.writeSync(1,d));process.stdin.on("end",()=>process.exit(0));`;

function setup(t: { after: (fn: () => void) => void }) {
  const dir = tempDir();
  t.after(dir.cleanup);
  return { dir: dir.path, env: isolatedEnv(join(dir.path, "home")) };
}

async function until(cond: () => boolean, what: string, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function canUnshareMounts(): boolean {
  if (process.getuid?.() !== 0) return false;
  return spawnSync("unshare", ["--mount", "--propagation", "private", "true"]).status === 0;
}

test("stdout path swap: a process in another mount namespace is traced through its own descriptor, never by the name (a FIFO here)", { skip: canUnshareMounts() ? false : "needs root and unshare(1) to make a mount namespace" }, async (t) => {
  const { dir, env } = setup(t);
  const ns = join(dir, "ns");
  mkdirSync(ns);
  // in our namespace the name is a FIFO (opening it would hang); in the agent's it is a file on a private tmpfs
  assert.equal(spawnSync("mkfifo", [join(ns, "out.log")]).status, 0);
  const agent: ChildProcess = spawn("unshare", ["--mount", "--propagation", "private", "sh", "-c", `mount -t tmpfs none '${ns}' && exec "${process.execPath}" -e '${COPIER}' > '${ns}/out.log'`], { stdio: ["pipe", "ignore", "inherit"] });
  t.after(() => agent.kill("SIGKILL"));
  const pid = agent.pid!;
  const send = (s: string) => new Promise<void>((res, rej) => agent.stdin!.write(s, (e) => (e ? rej(e) : res())));
  // wait until the node process is the one holding the file (sh has exec-ed it)
  await until(() => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, "utf8").startsWith(process.execPath);
    } catch {
      return false;
    }
  }, "the agent to start");
  await send("evidence from the namespace\n");
  // the copier has written it to the file (not only taken it from its stdin): trace starts after it
  await until(() => {
    try {
      return readFileSync(`/proc/${pid}/fd/1`, "utf8") === "evidence from the namespace\n";
    } catch {
      return false;
    }
  }, "the evidence to reach the agent's file");

  const tr = new CliProcess(["agents", "trace", String(pid)], { env });
  t.after(() => tr.kill("SIGKILL"));
  await tr.waitForOutput(`trace pid ${pid}  Ctrl+C to stop\n`);
  await send("live line\n");
  await tr.waitForOutput("live line\n");
  tr.kill("SIGINT");
  assert.equal((await tr.exited).code, 0);
  assert.equal(tr.stdout, `trace pid ${pid}  Ctrl+C to stop\nlive line\n· trace ended\n`);

  // the watchdog's evidence reads the same descriptor, and never blocks on the FIFO
  const a = { pid, stdoutPath: join(ns, "out.log"), transcript: null, name: "x", status: "idle", lastOutputAt: null, resource: { uptimeSec: 1, cpuPct: 0, rssBytes: 1, children: 0 } } as unknown as FleetAgent;
  const ev = collectEvidence(a);
  assert.equal(ev.source, join(ns, "out.log"));
  assert.equal(ev.output, "evidence from the namespace\nlive line\n");
});

test("trace into a reader that does not read: what is queued stays bounded, and the reader is told how much was dropped", async (t) => {
  const { dir, env } = setup(t);
  const log = join(dir, "agent.log");
  const fd = openSync(log, "w");
  const agent = spawn("/bin/sleep", ["300"], { stdio: ["ignore", fd, "ignore"] });
  closeSync(fd);
  t.after(() => agent.kill("SIGKILL"));
  // stdout is a pipe we do not read: the kernel buffer fills, then every write queues in the process
  const tr = spawn(process.execPath, [CLI, "agents", "trace", String(agent.pid)], { env, stdio: ["ignore", "pipe", "pipe"] });
  t.after(() => tr.kill("SIGKILL"));
  let err = "";
  tr.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  // the header arrives before the flood (read it, then stop reading)
  const first = await new Promise<Buffer>((res) => tr.stdout!.once("data", res));
  tr.stdout!.pause();
  assert.equal(first.toString(), `trace pid ${agent.pid}  Ctrl+C to stop\n`);
  // a flood of printable output for several seconds: far more than the bound is rendered meanwhile
  const line = "x".repeat(1023) + "\n";
  const chunk = line.repeat(64);
  const out = openSync(log, "a");
  const t0 = Date.now();
  while (Date.now() - t0 < 8000) {
    writeSync(out, chunk);
    await new Promise((r) => setTimeout(r, 10));
  }
  closeSync(out);
  appendFileSync(log, "the end\n");
  await new Promise((r) => setTimeout(r, 1000));
  // now read everything it queued, then stop it
  const got: Buffer[] = [];
  tr.stdout!.on("data", (d: Buffer) => got.push(d));
  tr.stdout!.resume();
  await new Promise((r) => setTimeout(r, 500));
  tr.kill("SIGINT");
  const code = await new Promise<number | null>((res) => tr.once("close", res));
  assert.equal(code, 0, err);
  const text = Buffer.concat(got).toString();
  const received = Buffer.byteLength(text);
  // the bound, plus the pipe's own buffer and one repaint in flight
  assert.ok(received < MAX_PENDING_OUTPUT_BYTES + 512 * 1024, `received ${received} bytes`);
  const m = /\n· dropped (\d+) bytes of output: the reader was not keeping up\n/.exec(text);
  assert.ok(m, `no dropped notice in ${JSON.stringify(text.slice(-300))}`);
  assert.ok(Number(m[1]) > 0);
  assert.ok(text.endsWith("· trace ended\n"), text.slice(-200));
});
