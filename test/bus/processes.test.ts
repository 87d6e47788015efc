import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { CliProcess, runCli } from "../helpers/cli.js";
import { OUT_DIR, isolatedEnv, tempDir, WAIT_MS } from "../helpers/env.js";
import { Broker, closePublishers, ensureBroker, publish, stopHostedBrokers } from "../../src/bus/index.js";

const PEER = join(OUT_DIR, "test", "helpers", "bus-peer.js");

/** The seed's own raw-socket publisher, verbatim but for the socket path. */
const SEED_PUBLISHER = `
import json, os, socket, uuid, datetime
sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
sock.connect(os.path.join(os.environ["OPENSRE_HOME"], "agents-bus.sock"))
sock.sendall((json.dumps({
    "agent": "claude-code:8421",
    "topic": "finding",
    "summary": "null deref on missing token",
    "path": "services/auth.py:42",
    "id": str(uuid.uuid4()),
    "timestamp": datetime.datetime.now(datetime.UTC).isoformat(),
    "schema_version": 1,
}) + "\\n").encode())
sock.close()
`;

test("the seed's raw-socket Python publisher reaches `opensre agents bus --json` and the plain view", async (t) => {
  const dir = tempDir();
  t.after(dir.cleanup);
  const env = isolatedEnv(dir.path);
  const json = new CliProcess(["agents", "bus", "--json"], { env });
  t.after(() => json.kill("SIGKILL"));
  await json.waitForOutput("tailing /agents bus — Ctrl-C to exit\n", WAIT_MS);
  const plainView = new CliProcess(["agents", "bus"], { env });
  t.after(() => plainView.kill("SIGKILL"));
  await plainView.waitForOutput("tailing /agents bus — Ctrl-C to exit\n", WAIT_MS);
  const py = spawnSync("python3", ["-c", SEED_PUBLISHER], { env, encoding: "utf8" });
  assert.equal(py.status, 0, py.stderr);
  await json.waitFor((o) => o.split("\n").length >= 3, WAIT_MS, "the frame");
  const frame = JSON.parse(json.stdout.split("\n")[1]!);
  assert.equal(frame.agent, "claude-code:8421");
  assert.equal(frame.summary, "null deref on missing token");
  assert.equal(json.stdout.split("\n")[1]!.includes('"agent": "claude-code:8421"'), true, "printed as received");
  await plainView.waitForOutput("[claude-code:8421] services/auth.py:42 — null deref on missing token\n");

  const pub = await runCli(["agents", "publish", "--agent", "cursor:9133", "--summary", "confirmed, repro on commit abc123", "--data", '{"commit":"abc123"}'], { env });
  assert.equal(pub.code, 0, pub.stderr);
  assert.match(pub.stdout, /^published [0-9a-f-]{36}\n$/);
  await plainView.waitForOutput("[cursor:9133] confirmed, repro on commit abc123\n");

  plainView.kill("SIGINT");
  assert.equal((await plainView.exited).code, 0);
  assert.equal(plainView.stdout.endsWith("(detached)\n"), true);
});

test("publish rejects bad input with exit 2 and a specific message", async (t) => {
  const dir = tempDir();
  t.after(dir.cleanup);
  const env = isolatedEnv(dir.path);
  const usage = "usage: /agents publish --agent NAME:PID --summary TEXT [--topic finding] [--source S] [--path P] [--data JSON]";
  const cases: Array<[string[], string]> = [
    [["--agent", "a:1", "--summary", "s", "--data", "{oops"], "invalid --data: not valid JSON ("],
    [["--agent", "a:1", "--summary", "s", "--data", "[1]"], `invalid --data: must be a JSON object, e.g. '{"commit":"abc123"}'\n`],
    [["--summary", "s"], `missing --agent NAME:PID\n${usage}\n`],
    [["--agent", "a:1"], `missing --summary TEXT\n${usage}\n`],
    [["--agent", "a:1", "--summary", "x".repeat(70_000)], "message is "],
  ];
  for (const [args, message] of cases) {
    const r = await runCli(["agents", "publish", ...args], { env });
    assert.equal(r.code, 2, args.join(" "));
    assert.equal(r.stderr.startsWith(message), true, `${args.join(" ")} → ${r.stderr}`);
  }
});

function peer(mode: "sub" | "pub", socket: string, env: NodeJS.ProcessEnv): { child: ChildProcess; lines: string[]; wait: (p: (l: string[]) => boolean, what: string) => Promise<void> } {
  const child = spawn(process.execPath, [PEER], { env: { ...env, BUS_PEER_MODE: mode, BUS_PEER_SOCKET: socket, BUS_PEER_COUNT: "5" }, stdio: ["pipe", "pipe", "inherit"] });
  const lines: string[] = [];
  let waiters: Array<() => void> = [];
  createInterface({ input: child.stdout! }).on("line", (l) => {
    lines.push(l);
    const w = waiters;
    waiters = [];
    w.forEach((f) => f());
  });
  const wait = async (p: (l: string[]) => boolean, what: string) => {
    const deadline = Date.now() + 60_000;
    while (!p(lines)) {
      if (Date.now() > deadline) throw new Error(`peer ${child.pid} (${mode}): timed out waiting for ${what}; saw ${lines.slice(-5).join(" | ")}`);
      await new Promise<void>((r) => {
        const tm = setTimeout(r, 200);
        waiters.push(() => (clearTimeout(tm), r()));
      });
    }
  };
  return { child, lines, wait };
}

test("20 processes started at once: exactly one broker, one PID file, every subscriber gets every message", async (t) => {
  const dir = tempDir();
  t.after(dir.cleanup);
  const env = isolatedEnv(dir.path);
  const socket = join(dir.path, "agents-bus.sock");
  const peers = [
    ...Array.from({ length: 12 }, () => peer("sub", socket, env)),
    ...Array.from({ length: 8 }, () => peer("pub", socket, env)),
  ];
  t.after(() => peers.forEach((p) => p.child.kill("SIGKILL")));
  const subs = peers.slice(0, 12);
  const pubs = peers.slice(12);
  // attached = has seen a probe published after it was ready
  await Promise.all(subs.map((s) => s.wait((l) => l.includes("msg probe"), "a probe")));
  pubs.forEach((p) => p.child.stdin!.write("go\n"));
  const expected = pubs.flatMap((p) => Array.from({ length: 5 }, (_, i) => `msg ${p.child.pid}-${i}`)).sort();
  await Promise.all(subs.map((s) => s.wait((l) => expected.every((e) => l.includes(e)), "every message")));
  for (const s of subs) {
    assert.deepEqual(s.lines.filter((l) => l.startsWith("msg ") && l !== "msg probe").sort(), expected);
  }
  peers.forEach((p) => p.child.stdin!.write("report\n"));
  await Promise.all(peers.map((p) => p.wait((l) => l.some((x) => x.startsWith("hosting ")), "a report")));
  const hosts = peers.filter((p) => p.lines.includes("hosting true"));
  assert.equal(hosts.length, 1, "exactly one broker");
  assert.equal(readFileSync(socket + ".pid", "utf8"), String(hosts[0]!.child.pid));
  assert.deepEqual(readdirSync(dir.path).filter((f) => f.startsWith("agents-bus")).sort(), ["agents-bus.sock", "agents-bus.sock.lock", "agents-bus.sock.pid"]);
});

test("a broker killed with SIGKILL: the next publish re-elects at once and replaces the stale files; subscribers are told", async (t) => {
  const dir = tempDir();
  t.after(async () => {
    await closePublishers();
    await stopHostedBrokers();
    dir.cleanup();
  });
  const env = isolatedEnv(dir.path);
  const socket = join(dir.path, "agents-bus.sock");
  const broker = new CliProcess(["agents", "bus"], { env });
  await broker.waitForOutput("tailing /agents bus", WAIT_MS);
  const other = new CliProcess(["agents", "bus"], { env });
  t.after(() => other.kill("SIGKILL"));
  await other.waitForOutput("tailing /agents bus", WAIT_MS);
  assert.equal(readFileSync(socket + ".pid", "utf8"), String(broker.child.pid));
  broker.kill("SIGKILL");
  await broker.exited;
  assert.equal(existsSync(socket), true, "stale socket left behind");
  assert.equal(existsSync(socket + ".pid"), true, "stale sidecar left behind");
  await other.exited;
  assert.equal(other.stderr, `bus broker (pid ${broker.child.pid}) went away; detached\n`);

  const started = Date.now();
  await ensureBroker(socket);
  await publish({ agent: "t:1", topic: "finding", summary: "after re-election" }, { path: socket });
  const took = Date.now() - started;
  // At once: no waiting on a timeout (the benchmark measures how fast; a loaded machine makes it slower).
  assert.ok(took < 10_000, `re-election took ${took} ms`);
  assert.equal(readFileSync(socket + ".pid", "utf8"), String(process.pid));
  assert.equal(statSync(socket).isSocket(), true);
});

test("a home the broker cannot write makes it refuse to start, with the OS error shown", async (t) => {
  const dir = tempDir();
  t.after(dir.cleanup);
  const home = join(dir.path, "home");
  mkdirSync(home, { mode: 0o700 });
  // A sidecar path that cannot be replaced: the stale-file cleanup or the rename fails with the OS error.
  const root = process.getuid?.() === 0;
  let cmd: string[] = [];
  if (root) {
    // root ignores permission bits: run the CLI as an unprivileged user on a home it cannot write.
    chmodSync(dir.path, 0o755);
    chownSync(home, 65534, 65534);
    chmodSync(home, 0o500);
    cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"];
  } else {
    chmodSync(home, 0o500);
  }
  const env = isolatedEnv(home);
  const args = [process.execPath, join(OUT_DIR, "src", "cli.js"), "agents", "publish", "--agent", "a:1", "--summary", "s"];
  const r = spawnSync(cmd[0] ?? args[0]!, [...cmd.slice(1), ...(cmd.length ? args : args.slice(1))], { env, encoding: "utf8" });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /^error: EACCES: permission denied, open '.*agents-bus\.sock\.lock'\n$/);
  assert.equal(existsSync(join(home, "agents-bus.sock")), false);
  assert.equal(existsSync(join(home, "agents-bus.sock.pid")), false);
});

test("a sidecar that cannot be written stops the broker: socket removed, OS error propagated", async (t) => {
  const dir = tempDir();
  t.after(async () => {
    await stopHostedBrokers();
    dir.cleanup();
  });
  const socket = join(dir.path, "agents-bus.sock");
  // a non-empty directory where the sidecar goes: the atomic rename cannot replace it
  mkdirSync(socket + ".pid");
  writeFileSync(join(socket + ".pid", "x"), "");
  // ensureBroker refuses while cleaning up the stale sidecar …
  await assert.rejects(ensureBroker(socket), (err: NodeJS.ErrnoException) => err.code === "EISDIR");
  assert.equal(existsSync(socket), false);
  // … and a broker whose sidecar write fails after binding closes and removes its socket.
  const broker = new Broker(socket);
  await assert.rejects(broker.start(), (err: NodeJS.ErrnoException) => ["EISDIR", "ENOTEMPTY"].includes(err.code ?? "") && /rename/.test(err.message));
  assert.equal(existsSync(socket), false);
});
