import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";

/**
 * Bus throughput and latency: messages/s delivered and publish→receive latency with 1, 8
 * and 32 subscribers, 200-byte and 16 KiB frames, against a raw Unix-socket echo server
 * measured in the same run; then broker RSS over 1,000,000 messages.
 * The broker (and the echo baseline) run in their own process; publisher and subscribers
 * share this one, so figures are conservative.
 */
const here = dirname(fileURLToPath(import.meta.url));
const busIndex = join(here, "..", "src", "bus", "index.js");

const BROKER_SCRIPT = `
import { ensureBroker } from ${JSON.stringify(busIndex)};
await ensureBroker(process.argv[1]);
process.stdout.write("ready\\n");
setInterval(() => {}, 1 << 30);
`;
const ECHO_SCRIPT = `
import { createServer } from "node:net";
createServer((s) => s.on("data", (d) => s.write(d))).listen(process.argv[1], () => process.stdout.write("ready\\n"));
`;

async function startChild(script: string, socket: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ["--input-type=module", "-e", script, socket], { stdio: ["ignore", "pipe", "inherit"] });
  await new Promise<void>((resolve) => createInterface({ input: child.stdout! }).once("line", () => resolve()));
  return child;
}

function open(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(path, () => resolve(s));
    s.once("error", reject);
  });
}

function frame(seq: number, size: number): Buffer {
  const head = JSON.stringify({ agent: "bench:1", topic: "finding", summary: `m${seq}`, data: { t: performance.now(), pad: "" } });
  const pad = Math.max(0, size - head.length - 1);
  return Buffer.from(head.replace('"pad":""', `"pad":"${"x".repeat(pad)}"`) + "\n");
}

/** Counts frames on a socket; for each frame it can call back with the embedded send time. */
function counter(s: Socket, onFrame?: (line: string) => void): { count: () => number } {
  let n = 0;
  let partial = "";
  s.setEncoding("utf8");
  s.on("data", (d: string) => {
    if (!onFrame) {
      for (let i = d.indexOf("\n"); i >= 0; i = d.indexOf("\n", i + 1)) n++;
      return;
    }
    const text = partial + d;
    let start = 0;
    for (let i = text.indexOf("\n"); i >= 0; i = text.indexOf("\n", start)) {
      n++;
      onFrame(text.slice(start, i));
      start = i + 1;
    }
    partial = text.slice(start);
  });
  return { count: () => n };
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

async function writeAll(s: Socket, frames: Buffer[]): Promise<void> {
  for (const f of frames) if (!s.write(f)) await new Promise((r) => s.once("drain", r));
}

async function until(pred: () => boolean, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setImmediate(r));
  }
  return true;
}

/** Throughput: burst N frames, wait for every subscriber to get them. Latency: one frame at a time. */
async function measure(path: string, subs: number, size: number, n: number, echo: boolean) {
  const pub = await open(path);
  const sockets: Socket[] = [];
  const counters: Array<{ count: () => number }> = [];
  if (echo) counters.push(counter(pub));
  else {
    pub.on("data", () => undefined);
    for (let i = 0; i < subs; i++) {
      const s = await open(path);
      sockets.push(s);
      counters.push(counter(s));
    }
  }
  await new Promise((r) => setTimeout(r, 50));
  const frames = Array.from({ length: n }, (_, i) => frame(i, size));
  // Windowed: a publisher far faster than its readers gets them evicted by design (at-most-once),
  // so throughput is measured with at most WINDOW frames in flight.
  const window = size > 1024 ? 32 : 512;
  const t0 = performance.now();
  let complete = true;
  for (let sent = 0; sent < n && complete; sent += window) {
    const upto = Math.min(n, sent + window);
    await writeAll(pub, frames.slice(sent, upto));
    complete = await until(() => counters.every((c) => c.count() >= upto), 5_000);
  }
  const secs = (performance.now() - t0) / 1000;
  const delivered = counters.reduce((a, c) => a + Math.min(n, c.count()), 0);
  for (const s of sockets) s.destroy();
  pub.destroy();

  // latency at low load: one frame in flight
  const lat: number[] = [];
  const pub2 = await open(path);
  const rx: Socket[] = [];
  let received = 0;
  const target = echo ? 1 : subs;
  const onLine = (line: string) => {
    const sent = Number(/"t":([0-9.e+-]+)/.exec(line)?.[1]);
    lat.push(performance.now() - sent);
    received++;
  };
  if (echo) counter(pub2, onLine);
  else {
    pub2.on("data", () => undefined);
    for (let i = 0; i < subs; i++) {
      const s = await open(path);
      rx.push(s);
      counter(s, onLine);
    }
  }
  await new Promise((r) => setTimeout(r, 50));
  for (let i = 0; i < 1000; i++) {
    const before = received;
    pub2.write(frame(i, size));
    await until(() => received >= before + target, 5000);
  }
  for (const s of rx) s.destroy();
  pub2.destroy();
  lat.sort((a, b) => a - b);
  return { rate: delivered / secs, complete, p50: pct(lat, 50), p99: pct(lat, 99) };
}

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : NaN;
}

export default async function busBench(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "osre-bench-"));
  const busPath = join(dir, "agents-bus.sock");
  const echoPath = join(dir, "echo.sock");
  const broker = await startChild(BROKER_SCRIPT, busPath);
  const echo = await startChild(ECHO_SCRIPT, echoPath);
  try {
    const out = (s: string) => process.stdout.write(s + "\n");
    out("case                         delivered msgs/s   p50 ms   p99 ms");
    for (const size of [200, 16 * 1024]) {
      const n = size === 200 ? 50_000 : 2_000;
      const e = await measure(echoPath, 1, size, n, true);
      out(`${`echo baseline ${size} B`.padEnd(28)} ${e.rate.toFixed(0).padStart(17)} ${e.p50.toFixed(3).padStart(8)} ${e.p99.toFixed(3).padStart(8)}`);
      for (const subs of [1, 8, 32]) {
        const r = await measure(busPath, subs, size, n, false);
        const label = `bus ${subs} sub${subs > 1 ? "s" : ""} ${size} B`;
        out(`${label.padEnd(28)} ${r.rate.toFixed(0).padStart(17)} ${r.p50.toFixed(3).padStart(8)} ${r.p99.toFixed(3).padStart(8)}${r.complete ? "" : "  (some frames dropped)"}`);
      }
    }
    // broker RSS over 1,000,000 messages with one subscriber
    const pub = await open(busPath);
    pub.on("data", () => undefined);
    const sub = await open(busPath);
    const c = counter(sub);
    const total = 1_000_000;
    const batch = 500;
    const samples: string[] = [`0: ${rssMiB(broker.pid!).toFixed(1)} MiB`];
    const t0 = performance.now();
    for (let sent = 0; sent < total; sent += batch) {
      await writeAll(pub, Array.from({ length: batch }, (_, i) => frame(sent + i, 200)));
      if (!(await until(() => c.count() >= sent + batch, 5_000))) {
        samples.push(`subscriber evicted at ${sent}`);
        break;
      }
      if ((sent + batch) % 250_000 === 0) samples.push(`${(sent + batch) / 1000}k: ${rssMiB(broker.pid!).toFixed(1)} MiB`);
    }
    const secs = (performance.now() - t0) / 1000;
    out(`broker RSS over 1,000,000 × 200 B (${(total / secs).toFixed(0)} msgs/s): ${samples.join(", ")}`);
    pub.destroy();
    sub.destroy();
  } finally {
    broker.kill("SIGKILL");
    echo.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  }
}
