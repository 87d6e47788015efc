import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { CliProcess, runCli } from "../helpers/cli.js";
import { CLI, isolatedEnv, tempDir, WAIT_MS } from "../helpers/env.js";
import { PtySession } from "../helpers/pty.js";
import { rawClient, until, writeAll } from "../helpers/bus-raw.js";

const HEADER = "tailing /agents bus — Ctrl-C to exit\n";

/** A frame holding raw C1 (U+009B), a bidi override (U+202E) and one byte that is not UTF-8 (0xFF), all inside strings. */
function hostileFrame(): Buffer {
  return Buffer.concat([
    Buffer.from('{"agent":"evil\u009b31m:1","topic":"finding","summary":"a\u202eb "'.slice(0, -1)),
    Buffer.from([0xff]),
    Buffer.from('","path":"x.py:1","data":{}}\n'),
  ]);
}

test("`bus --json` into a pipe writes each frame's bytes exactly as received, invalid UTF-8 included", async (t) => {
  const dir = tempDir();
  t.after(dir.cleanup);
  const env = isolatedEnv(dir.path);
  const child = spawn(process.execPath, [CLI, "agents", "bus", "--json"], { env, stdio: ["pipe", "pipe", "pipe"] });
  t.after(() => child.kill("SIGKILL"));
  const out: Buffer[] = [];
  let err = "";
  child.stdout.on("data", (d: Buffer) => out.push(d));
  child.stderr.setEncoding("utf8").on("data", (d: string) => (err += d));
  await until(() => Buffer.concat(out).toString().includes(HEADER), 20_000, "the header");
  const pub = await rawClient(join(dir.path, "agents-bus.sock"));
  const frame = hostileFrame();
  pub.write(frame);
  await until(() => Buffer.concat(out).length >= Buffer.byteLength(HEADER) + frame.length, 10_000, "the frame");
  assert.deepEqual(Buffer.concat(out), Buffer.concat([Buffer.from(HEADER), frame]));
  assert.equal(err, "");
  pub.destroy();
});

test("`bus --json` on a terminal shows the same data inert: C1 and bidi controls as \\uXXXX, invalid UTF-8 as U+FFFD with a warning", async (t) => {
  const dir = tempDir();
  t.after(dir.cleanup);
  const env = isolatedEnv(dir.path);
  const pty = new PtySession(env, ["agents", "bus", "--json"]);
  t.after(() => pty.kill());
  await pty.waitFor("tailing /agents bus", WAIT_MS);
  const pub = await rawClient(join(dir.path, "agents-bus.sock"));
  pub.write(hostileFrame());
  await pty.waitFor('"path":"x.py:1"', WAIT_MS);
  assert.ok(pty.raw.includes('{"agent":"evil\\u009b31m:1","topic":"finding","summary":"a\\u202eb \ufffd","path":"x.py:1","data":{}}'), pty.raw);
  assert.ok(pty.raw.includes("warning: a frame holds invalid UTF-8, shown as U+FFFD on this terminal; redirect the output for the exact bytes"));
  assert.equal(/[\u0080-\u009f\u202a-\u202e\u2066-\u2069]/.test(pty.raw), false, "no raw C1 or bidi control reached the terminal");
  pub.destroy();
});

test("the human view escapes C0, C1 and bidi controls in every field, and a bad frame's warning never echoes it", async (t) => {
  const dir = tempDir();
  t.after(dir.cleanup);
  const env = isolatedEnv(dir.path);
  const view = new CliProcess(["agents", "bus"], { env });
  t.after(() => view.kill("SIGKILL"));
  await view.waitForOutput(HEADER, WAIT_MS);
  const pub = await rawClient(join(dir.path, "agents-bus.sock"));
  pub.write('\x1b]52;c;SGVsbG8=\x07 not json at all\n');
  pub.write('{"agent":"evil\u009b31m:1","topic":"finding","summary":"a\u202eb\\u001b[2J","path":"\u2066x.py"}\n');
  await view.waitFor((o) => o.includes("evil"), WAIT_MS, "the frame");
  assert.ok(view.stdout.includes("[evil\\x9b31m:1] \\u2066x.py — a\\u202eb\\x1b[2J\n"), view.stdout);
  await view.waitFor((_o, e) => e.includes("warning:"), WAIT_MS, "the warning");
  assert.equal(view.stderr, "warning: skipped a bad frame: frame is not valid JSON (unexpected character)\n");
  pub.destroy();
});

test("a process hosting the broker, flooded with 60 KB frames, never cuts off its own view and keeps serving everyone", async (t) => {
  const dir = tempDir();
  t.after(dir.cleanup);
  const env = isolatedEnv(dir.path);
  const socket = join(dir.path, "agents-bus.sock");
  const host = new CliProcess(["agents", "bus"], { env });
  t.after(() => host.kill("SIGKILL"));
  await host.waitForOutput(HEADER, WAIT_MS);
  assert.equal(readFileSync(socket + ".pid", "utf8"), String(host.child.pid));
  const flooder = await rawClient(socket);
  flooder.on("data", () => undefined);
  const big = (i: number) => Buffer.from(JSON.stringify({ agent: "flood:1", topic: "finding", summary: `f${i}`, data: { pad: "z".repeat(60_000) } }) + "\n");
  const until3s = Date.now() + 3000;
  for (let i = 0; Date.now() < until3s; i += 16) await writeAll(flooder, Array.from({ length: 16 }, (_, k) => big(i + k)));
  flooder.destroy();
  const probe = await runCli(["agents", "publish", "--agent", "probe:1", "--summary", "after the flood"], { env });
  assert.equal(probe.code, 0, probe.stderr);
  await host.waitForOutput("[probe:1] after the flood\n", WAIT_MS);
  assert.equal(host.child.exitCode, null, "the host still runs");
  assert.doesNotMatch(host.stderr, /went away|disconnected/);
  assert.equal(readFileSync(socket + ".pid", "utf8"), String(host.child.pid), "and still hosts the broker");
});

test("`bus --json | a reader that stops reading`: memory stays bounded and what was dropped is reported", async (t) => {
  const dir = tempDir();
  t.after(dir.cleanup);
  const env = isolatedEnv(dir.path);
  const child = spawn(process.execPath, [CLI, "agents", "bus", "--json"], { env, stdio: ["pipe", "pipe", "pipe"] });
  t.after(() => child.kill("SIGKILL"));
  let out = "";
  let err = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
  child.stderr.setEncoding("utf8").on("data", (d: string) => (err += d));
  await until(() => out.includes(HEADER), 20_000, "the header");
  child.stdout.pause(); // the reader stops reading: the pipe fills and the view's writes block
  const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, "utf8"))?.[1] ?? 0) / 1024;
  const before = rss();
  let peak = before;
  const pub = await rawClient(join(dir.path, "agents-bus.sock"));
  pub.on("data", () => undefined);
  const frame = (i: number) => Buffer.from(JSON.stringify({ agent: "pub:1", topic: "finding", summary: `m${i}`, data: { pad: "q".repeat(1000) } }) + "\n");
  const total = 40_000; // ~40 MB through a view that is not being read
  for (let i = 0; i < total; i += 500) {
    await writeAll(pub, Array.from({ length: 500 }, (_, k) => frame(i + k)));
    peak = Math.max(peak, rss());
  }
  await new Promise((r) => setTimeout(r, 300));
  peak = Math.max(peak, rss());
  child.stdout.resume();
  await until(() => /· dropped \d+ frames/.test(err), 20_000, () => `a drop report (stderr: ${err})`);
  const dropped = [...err.matchAll(/· dropped (\d+) frames?/g)].reduce((a, m) => a + Number(m[1]), 0);
  await until(() => out.split("\n").length - 2 + dropped >= total, 20_000, () => `every frame shown or counted (${out.split("\n").length - 2} + ${dropped})`);
  assert.ok(peak - before < 48, `RSS grew ${(peak - before).toFixed(1)} MiB (from ${before.toFixed(1)})`);
  pub.destroy();
});
