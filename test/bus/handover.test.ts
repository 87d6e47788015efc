import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { CliProcess } from "../helpers/cli.js";
import { OUT_DIR, isolatedEnv, tempDir, WAIT_MS } from "../helpers/env.js";
import { until } from "../helpers/bus-raw.js";

const PEER = join(OUT_DIR, "test", "helpers", "bus-peer.js");
const HEADER = "tailing /agents bus — Ctrl-C to exit\n";

function peer(mode: string, socket: string, env: NodeJS.ProcessEnv, extra: Record<string, string> = {}): { child: ChildProcess; lines: string[] } {
  const child = spawn(process.execPath, [PEER], { env: { ...env, ...extra, BUS_PEER_MODE: mode, BUS_PEER_SOCKET: socket }, stdio: ["pipe", "pipe", "inherit"] });
  const lines: string[] = [];
  createInterface({ input: child.stdout! }).on("line", (l) => lines.push(l));
  return { child, lines };
}

function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((r) => child.once("exit", (code, signal) => r({ code, signal })));
}

const peerLines = (out: string) => out.split("\n").filter((l) => l.startsWith("[peer:")).length;

test("SIGTERM to `agents bus` hosting the broker: it hands over, the next client re-elects, publishers see no error and viewers follow", async (t) => {
  const dir = tempDir();
  t.after(dir.cleanup);
  const env = isolatedEnv(dir.path);
  const socket = join(dir.path, "agents-bus.sock");
  const host = new CliProcess(["agents", "bus"], { env });
  t.after(() => host.kill("SIGKILL"));
  await host.waitForOutput(HEADER, WAIT_MS);
  const viewer = new CliProcess(["agents", "bus"], { env });
  t.after(() => viewer.kill("SIGKILL"));
  await viewer.waitForOutput(HEADER, WAIT_MS);
  assert.equal(readFileSync(socket + ".pid", "utf8"), String(host.child.pid));
  const stream = peer("stream", socket, env);
  t.after(() => stream.child.kill("SIGKILL"));
  await until(() => stream.lines.includes(`ready ${stream.child.pid}`), 20_000, "the publisher");
  await viewer.waitFor((o) => peerLines(o) >= 5, WAIT_MS, "frames before the handover");

  host.kill("SIGTERM");
  const ended = await host.exited;
  assert.deepEqual(ended, { code: null, signal: "SIGTERM" }, "ends as killed by the signal, after handing over");
  assert.equal(host.stderr, "");
  await viewer.waitForOutput(`· bus broker (pid ${host.child.pid}) stopped; attached to pid `, WAIT_MS);
  const seen = peerLines(viewer.stdout);
  await viewer.waitFor((o) => peerLines(o) >= seen + 5, WAIT_MS, "frames after the handover");

  stream.child.stdin!.write("stop\n");
  await until(() => stream.lines.some((l) => l.startsWith("done ")), 20_000, () => `the publisher's report (${stream.lines.slice(-3).join(" | ")})`);
  assert.deepEqual(stream.lines.filter((l) => l.startsWith("error ") || l.startsWith("done ")).map((l) => l.replace(/ok \d+/, "ok N")), ["done ok N failed 0"]);
  const newHost = Number(readFileSync(socket + ".pid", "utf8"));
  assert.ok([viewer.child.pid, stream.child.pid].includes(newHost), `re-elected by a client (${newHost})`);
  assert.equal(viewer.stderr, "");
});

test("SIGHUP or SIGTERM to a library process hosting the broker removes the socket and PID file and ends it as the signal would", async (t) => {
  for (const signal of ["SIGHUP", "SIGTERM"] as const) {
    const dir = tempDir();
    t.after(dir.cleanup);
    const env = isolatedEnv(dir.path);
    const socket = join(dir.path, "agents-bus.sock");
    const host = peer("sub", socket, env);
    t.after(() => host.child.kill("SIGKILL"));
    await until(() => host.lines.includes(`ready ${host.child.pid}`), 20_000, "the host");
    assert.equal(readFileSync(socket + ".pid", "utf8"), String(host.child.pid));
    host.child.kill(signal);
    assert.deepEqual(await exited(host.child), { code: null, signal });
    assert.equal(existsSync(socket), false, `${signal}: socket removed`);
    assert.equal(existsSync(socket + ".pid"), false, `${signal}: PID file removed`);
  }
});

test("a program that handles SIGTERM itself keeps control of its exit; the bus hands over when it does exit", async (t) => {
  const dir = tempDir();
  t.after(dir.cleanup);
  const env = isolatedEnv(dir.path);
  const socket = join(dir.path, "agents-bus.sock");
  const host = peer("sub", socket, env, { BUS_PEER_TRAP: "1" });
  t.after(() => host.child.kill("SIGKILL"));
  await until(() => host.lines.includes(`ready ${host.child.pid}`), 20_000, "the host");
  host.child.kill("SIGTERM");
  assert.deepEqual(await exited(host.child), { code: 7, signal: null });
  assert.ok(host.lines.includes("trapped"));
  assert.equal(existsSync(socket), false, "socket removed at exit");
  assert.equal(existsSync(socket + ".pid"), false, "PID file removed at exit");
});
