import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { chmodSync, closeSync, openSync, readFileSync, readlinkSync, readdirSync, truncateSync, unlinkSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { CliProcess, runCli } from "../helpers/cli.js";
import { CLI, isolatedEnv, tempDir, WAIT_MS } from "../helpers/env.js";
import { registerAgent } from "../../src/fleet/registry.js";
import { RING_BYTES, QUEUE_BYTES, runTraceSession } from "../../src/trace/session.js";

/** A process that copies whatever we send on its stdin to its stdout (or stderr), byte for byte. */
const COPIER = `const fs=require("fs");const fd=Number(process.argv[1]||1);process.stdin.on("data",d=>fs.writeSync(fd,d));process.stdin.on("end",()=>process.exit(0));`;

function writer(file: string, opts: { fd?: 1 | 2; append?: boolean } = {}): ChildProcess {
  const out = openSync(file, opts.append ? "a" : "w");
  const fd = opts.fd ?? 1;
  const stdio: Array<"pipe" | "ignore" | number> = ["pipe", fd === 1 ? out : "ignore", fd === 2 ? out : "ignore"];
  const child = spawn(process.execPath, ["-e", COPIER, String(fd)], { stdio });
  closeSync(out);
  writers.set(child, { fd, append: opts.append ?? false });
  return child;
}
const writers = new WeakMap<ChildProcess, { fd: 1 | 2; append: boolean }>();

/** The file offset of a writer's output descriptor (`pos:` in /proc/<pid>/fdinfo/<fd>). */
function offset(child: ChildProcess): number {
  const fd = writers.get(child)!.fd;
  return Number(/^pos:\s*(\d+)/m.exec(readFileSync(`/proc/${child.pid}/fdinfo/${fd}`, "utf8"))![1]);
}

/**
 * Send `data` to a writer and resolve once the writer has written it to its file, not only once it was handed to
 * the writer's stdin: a trace started after `send` must find it already in the file, never as live output.
 */
async function send(child: ChildProcess, data: string | Buffer): Promise<void> {
  const before = offset(child);
  const want = before + Buffer.byteLength(data);
  await new Promise<void>((resolve, reject) => child.stdin!.write(data, (e) => (e ? reject(e) : resolve())));
  // an O_APPEND descriptor's offset jumps to the end of a truncated file, so any move counts there
  const written = () => (writers.get(child)!.append ? offset(child) !== before : offset(child) >= want);
  const deadline = Date.now() + WAIT_MS;
  while (!written()) {
    if (Date.now() > deadline) throw new Error(`pid ${child.pid} did not write ${JSON.stringify(String(data))} within ${WAIT_MS} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function setup(t: { after: (fn: () => void) => void }) {
  const dir = tempDir();
  t.after(dir.cleanup);
  return { dir: dir.path, env: isolatedEnv(join(dir.path, "home")), log: join(dir.path, "agent.log") };
}

test("trace shows exactly the lines written after attach, in order, with the registered name", async (t) => {
  const { env, log } = setup(t);
  const w = writer(log);
  t.after(() => w.kill("SIGKILL"));
  await send(w, "before attach\n");
  await registerAgent(env.OPENSRE_HOME!, { pid: w.pid!, name: "claude-code", command: "claude" });
  const tr = new CliProcess(["agents", "trace", String(w.pid)], { env });
  t.after(() => tr.kill("SIGKILL"));
  await tr.waitForOutput(`trace claude-code (pid ${w.pid})  Ctrl+C to stop\n`);
  for (let i = 1; i <= 50; i++) await send(w, `line ${i}\n`);
  await tr.waitForOutput("line 50\n");
  const body = tr.stdout.split("\n").slice(1, 51);
  assert.deepEqual(body, Array.from({ length: 50 }, (_, i) => `line ${i + 1}`));
  assert.equal(tr.stdout.includes("before attach"), false);
  tr.kill("SIGINT");
  const { code } = await tr.exited;
  assert.equal(code, 0);
  assert.equal(tr.stdout.endsWith("line 50\n· trace ended\n"), true, tr.stdout);
});

test("an unregistered pid is labelled `pid N`; the target's exit ends the trace", async (t) => {
  const { env, log } = setup(t);
  const w = writer(log);
  const tr = new CliProcess(["agents", "trace", String(w.pid)], { env });
  t.after(() => tr.kill("SIGKILL"));
  await tr.waitForOutput(`trace pid ${w.pid}  Ctrl+C to stop\n`);
  await send(w, "last words");
  w.stdin!.end();
  const { code } = await tr.exited;
  assert.equal(code, 0);
  assert.equal(tr.stdout, `trace pid ${w.pid}  Ctrl+C to stop\nlast words\n· process exited\n· trace ended\n`);
});

test("--tail N shows the last N lines first; --stderr follows fd 2", async (t) => {
  const { env, log, dir } = setup(t);
  const w = writer(log);
  t.after(() => w.kill("SIGKILL"));
  await send(w, "one\ntwo\nthree\nfour\n");
  const tr = new CliProcess(["agents", "trace", String(w.pid), "--tail", "2"], { env });
  t.after(() => tr.kill("SIGKILL"));
  await tr.waitForOutput("three\nfour\n");
  await send(w, "five\n");
  await tr.waitForOutput("five\n");
  assert.equal(tr.stdout, `trace pid ${w.pid}  Ctrl+C to stop\nthree\nfour\nfive\n`);

  const errLog = join(dir, "err.log");
  const e = writer(errLog, { fd: 2 });
  t.after(() => e.kill("SIGKILL"));
  const refused = await runCli(["agents", "trace", String(e.pid)], { env });
  assert.equal(refused.stderr, `cannot trace pid ${e.pid}: stdout is a character device (/dev/null); live tail not supported\nto follow its session transcript instead: /agents trace ${e.pid} --transcript\n`);
  const tr2 = new CliProcess(["agents", "trace", String(e.pid), "--stderr"], { env });
  t.after(() => tr2.kill("SIGKILL"));
  await tr2.waitForOutput("Ctrl+C to stop\n");
  await send(e, "to stderr\n");
  await tr2.waitForOutput("to stderr\n");
});

test("targets that cannot be tailed are refused at attach time with the seed's messages (exit 1)", async (t) => {
  const { env, dir } = setup(t);
  const expect = async (pid: number | string, message: string, code = 1) => {
    const r = await runCli(["agents", "trace", String(pid)], { env });
    assert.equal(r.stderr, message + "\n");
    assert.equal(r.stdout, "");
    assert.equal(r.code, code);
  };
  // pipe
  // (node's stdio "pipe" is a socketpair; a real pipe comes from os.pipe)
  const piped = spawn("python3", ["-c", "import os,sys,time\nr,w=os.pipe()\nos.dup2(w,1)\nprint('ready',flush=True,file=sys.stderr)\ntime.sleep(60)"], { stdio: ["ignore", "ignore", "pipe"] });
  t.after(() => piped.kill("SIGKILL"));
  await new Promise((r) => piped.stderr!.once("data", r));
  await expect(piped.pid!, `cannot trace pid ${piped.pid}: stdout is a pipe; live tail not supported\nto follow its session transcript instead: /agents trace ${piped.pid} --transcript`);
  // socket
  const sock = spawn("python3", ["-c", "import socket,os,time\ns=socket.socketpair()\nos.dup2(s[0].fileno(),1)\nprint('ready',flush=True,file=__import__('sys').stderr)\ntime.sleep(60)"], { stdio: ["ignore", "ignore", "pipe"] });
  t.after(() => sock.kill("SIGKILL"));
  await new Promise((r) => sock.stderr!.once("data", r));
  await expect(sock.pid!, `cannot trace pid ${sock.pid}: stdout is a socket; live tail not supported\nto follow its session transcript instead: /agents trace ${sock.pid} --transcript`);
  // character device that is not a terminal
  const devnull = spawn(process.execPath, ["-e", "setInterval(()=>{},1e6)"], { stdio: ["ignore", "ignore", "ignore"] });
  t.after(() => devnull.kill("SIGKILL"));
  await expect(devnull.pid!, `cannot trace pid ${devnull.pid}: stdout is a character device (/dev/null); live tail not supported\nto follow its session transcript instead: /agents trace ${devnull.pid} --transcript`);
  // a pid that does not exist
  const gone = spawnSync(process.execPath, ["-e", "0"]).pid;
  await expect(gone, `cannot trace pid ${gone}: no such pid ${gone}`);
  // bad pid text
  await expect("12x", "invalid pid: 12x is not an integer", 2);
  // deleted target file
  const log = join(dir, "deleted.log");
  const w = writer(log);
  t.after(() => w.kill("SIGKILL"));
  await send(w, "x\n");
  unlinkSync(log);
  await expect(w.pid!, `cannot trace pid ${w.pid}: stdout target ${log} no longer exists`);
});

test("a terminal target is refused", async (t) => {
  const { env } = setup(t);
  const require = createRequire(import.meta.url);
  const pty = require("node-pty") as { spawn(f: string, a: string[], o: object): { pid: number; kill(s?: string): void } };
  const p = pty.spawn(process.execPath, ["-e", "setInterval(()=>{},1e6)"], { cols: 80, rows: 24, env });
  t.after(() => p.kill("SIGKILL"));
  const r = await runCli(["agents", "trace", String(p.pid)], { env });
  assert.equal(r.stderr, `cannot trace pid ${p.pid}: stdout is on a terminal; live tail not supported\nto follow its session transcript instead: /agents trace ${p.pid} --transcript\n`);
  assert.equal(r.code, 1);
});

test("permission denied: a process of another user cannot be inspected", async (t) => {
  const { env, dir } = setup(t);
  if (process.getuid?.() === 0) {
    // run the CLI as an unprivileged user against a root process
    const target = spawn(process.execPath, ["-e", "setInterval(()=>{},1e6)"], { stdio: ["ignore", openSync(join(dir, "root.log"), "w"), "ignore"] });
    t.after(() => target.kill("SIGKILL"));
    chmodSync(dir, 0o777);
    const r = spawnSync("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "--", process.execPath, CLI, "agents", "trace", String(target.pid)], { env, encoding: "utf8" });
    assert.equal(r.stderr, `cannot trace pid ${target.pid}: cannot inspect pid ${target.pid} (permission denied)\n`);
    assert.equal(r.status, 1);
  } else {
    // simulated /proc whose fd directory is unreadable, as /proc/<pid>/fd of another user's process is
    const fdDir = join(dir, "proc", "4242", "fd");
    spawnSync("mkdir", ["-p", fdDir]);
    chmodSync(fdDir, 0o000);
    t.after(() => chmodSync(fdDir, 0o700));
    const r = await runCli(["agents", "trace", "4242"], { env: { ...env, OPENSRE_PROC_ROOT: join(dir, "proc") } });
    assert.equal(r.stderr, "cannot trace pid 4242: cannot inspect pid 4242 (permission denied)\n");
  }
});

test("multibyte UTF-8 split across writes renders whole; hostile escapes are stripped, and kept with --raw", async (t) => {
  const { env, log } = setup(t);
  const w = writer(log);
  t.after(() => w.kill("SIGKILL"));
  const tr = new CliProcess(["agents", "trace", String(w.pid)], { env });
  const raw = new CliProcess(["agents", "trace", String(w.pid), "--raw"], { env });
  t.after(() => tr.kill("SIGKILL"));
  t.after(() => raw.kill("SIGKILL"));
  await tr.waitForOutput("Ctrl+C to stop\n");
  await raw.waitForOutput("Ctrl+C to stop\n");
  const euro = Buffer.from("€");
  await send(w, Buffer.concat([Buffer.from("price: 5"), euro.subarray(0, 1)]));
  await tr.waitForOutput("price: 5");
  await new Promise((r) => setTimeout(r, 300)); // let the view repaint with half a character pending
  await send(w, Buffer.concat([euro.subarray(1), Buffer.from(" ok\n")]));
  await tr.waitForOutput("price: 5€ ok\n");
  assert.equal(tr.stdout.includes("\ufffd"), false);
  const hostile = "\x1b]52;c;cm0gLXJmIH4=\x07\x1b[2J\x1b[31mred\x1b[0m\x1b]0;title\x07 done\n";
  await send(w, hostile);
  await tr.waitForOutput(" done\n");
  assert.equal(tr.stdout.endsWith("\x1b[31mred\x1b[0m done\n"), true, JSON.stringify(tr.stdout));
  await raw.waitForOutput(hostile);
});

test("copytruncate-style truncation is detected and following resumes from the new end", async (t) => {
  const { env, log } = setup(t);
  const w = writer(log, { append: true });
  t.after(() => w.kill("SIGKILL"));
  await send(w, "old content that will be truncated\n");
  const tr = new CliProcess(["agents", "trace", String(w.pid)], { env });
  t.after(() => tr.kill("SIGKILL"));
  await tr.waitForOutput("Ctrl+C to stop\n");
  await send(w, "before truncation\n");
  await tr.waitForOutput("before truncation\n");
  truncateSync(log, 0);
  await tr.waitForOutput("· file truncated to 0 bytes; following from the new end\n");
  await send(w, "after truncation\n");
  await tr.waitForOutput("after truncation\n");
});

test("Ctrl+C (SIGINT) ends the trace and releases the file descriptor", async (t) => {
  const { env, log } = setup(t);
  const w = writer(log);
  t.after(() => w.kill("SIGKILL"));
  const tr = new CliProcess(["agents", "trace", String(w.pid)], { env });
  t.after(() => tr.kill("SIGKILL"));
  await tr.waitForOutput("Ctrl+C to stop\n");
  const holds = () => readdirSync(`/proc/${tr.child.pid}/fd`).some((fd) => {
    try {
      return readlinkSync(`/proc/${tr.child.pid}/fd/${fd}`) === log;
    } catch {
      return false;
    }
  });
  assert.equal(holds(), true, "the trace holds the file open while following");
  tr.kill("SIGINT");
  assert.equal((await tr.exited).code, 0);
  assert.equal(tr.stdout.endsWith("· trace ended\n"), true);
});

test("a 50 MB burst keeps memory bounded: ring ≤ 4 MiB, queue bounded, the newest output shown", async (t) => {
  const { log } = setup(t);
  writeFileSync(log, "");
  const total = 50 * 1024 * 1024;
  const burst = spawn(process.execPath, ["-e", `const fs=require("fs");const line=Buffer.from("x".repeat(99)+"\\n");const buf=Buffer.alloc(1<<20);for(let i=0;i<buf.length;i+=100)line.copy(buf,i);process.stdin.once("data",()=>{for(let n=0;n<${total};n+=buf.length)fs.writeSync(1,buf);fs.writeSync(1,"THE END\\n");process.stdin.on("end",()=>process.exit(0))})`], { stdio: ["pipe", openSync(log, "a"), "ignore"] });
  t.after(() => burst.kill("SIGKILL"));
  const ac = new AbortController();
  let shown = "";
  const notices: string[] = [];
  let ready!: () => void;
  const positioned = new Promise<void>((r) => (ready = r));
  const session = runTraceSession({ path: log, pid: burst.pid!, startTime: null, signal: ac.signal, write: (s) => (shown = (shown + s.toString()).slice(-4096)), notice: (l) => notices.push(l), onReady: () => ready() });
  // the burst starts once the session is following the file (else it could start past the end of the burst)
  await positioned;
  burst.stdin!.write("go\n");
  const deadline = Date.now() + WAIT_MS;
  while (!shown.includes("THE END\n") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  ac.abort();
  const { stats } = await session;
  assert.equal(shown.endsWith("THE END\n"), true);
  assert.ok(stats.peakRingBytes <= RING_BYTES, `ring peaked at ${stats.peakRingBytes}`);
  assert.ok(stats.peakQueueBytes <= QUEUE_BYTES, `queue peaked at ${stats.peakQueueBytes}`);
  assert.ok(stats.bytesRendered <= total / 4, `rendered ${stats.bytesRendered} bytes of ${total}`);
  assert.ok(notices.some((n) => /^· skipped \d+ bytes to keep up$/.test(n)));
});
