import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * `/agents trace` against `tail -f` on the same file: write→screen latency (p50/p99),
 * CPU% and peak RSS of the follower, with a writer at 1,000 lines/s and one at full speed.
 * Each line carries the writer's CLOCK_MONOTONIC time (process.hrtime), comparable across
 * processes, so latency is measured where the line comes out of the follower.
 */
const here = dirname(fileURLToPath(import.meta.url));
const CLI = join(here, "..", "src", "cli.js");
const PHASE_MS = 5000;

const WRITER = `
const fs = require("fs");
const [file, rate, ms] = process.argv.slice(1);
const fd = fs.openSync(file, "a");
const end = Date.now() + Number(ms);
const pad = "x".repeat(60);
if (rate === "max") {
  while (Date.now() < end) {
    let s = "";
    for (let i = 0; i < 500; i++) s += "T" + process.hrtime.bigint() + " " + pad + "\\n";
    fs.writeSync(fd, s);
  }
  process.exit(0);
} else {
  const every = 1000 / Number(rate);
  let next = Date.now();
  const tick = () => {
    while (Date.now() >= next) { fs.writeSync(fd, "T" + process.hrtime.bigint() + " " + pad + "\\n"); next += every; }
    if (Date.now() < end) setTimeout(tick, Math.max(0, next - Date.now())); else process.exit(0);
  };
  tick();
}`;

function cpuTicks(pid: number): number {
  const text = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return Number(f[11]) + Number(f[12]);
}
function hwmMiB(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : NaN;
}
function pct(s: number[], p: number): number {
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]! : NaN;
}

async function measure(file: string, follower: ChildProcess, ready: string, rate: string) {
  const lat: number[] = [];
  let partial = "";
  let seen = false;
  follower.stdout!.setEncoding("utf8").on("data", (d: string) => {
    const now = process.hrtime.bigint();
    const text = partial + d;
    const lines = text.split("\n");
    partial = lines.pop()!;
    for (const l of lines) {
      if (l.includes(ready)) seen = true;
      const m = /^T(\d+) /.exec(l);
      if (m) lat.push(Number(now - BigInt(m[1]!)) / 1e6);
    }
  });
  const t0 = Date.now();
  while (!seen && ready && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setTimeout(r, 300));
  const pid = follower.pid!;
  const c0 = cpuTicks(pid);
  const w0 = performance.now();
  const writer = spawn(process.execPath, ["-e", WRITER, file, rate, String(PHASE_MS)], { stdio: "ignore" });
  await new Promise((r) => writer.on("exit", r));
  await new Promise((r) => setTimeout(r, 500));
  const secs = (performance.now() - w0) / 1000;
  const cpu = ((cpuTicks(pid) - c0) / 100 / secs) * 100;
  const rss = hwmMiB(pid);
  lat.sort((a, b) => a - b);
  return { p50: pct(lat, 50), p99: pct(lat, 99), shown: lat.length, cpu, rss };
}

export default async function traceBench(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "osre-bench-"));
  const file = join(dir, "agent.log");
  const fd = openSync(file, "a");
  const target = spawn("sleep", ["600"], { stdio: ["ignore", fd, "ignore"] });
  closeSync(fd);
  const out = (s: string) => process.stdout.write(s + "\n");
  try {
    out("follower          writer        lines shown   p50 ms   p99 ms   cpu%   peak RSS MiB");
    for (const rate of ["1000", "max"]) {
      for (const name of ["tail -f", "opensre trace"]) {
        const follower =
          name === "tail -f"
            ? spawn("tail", ["-n0", "-f", file], { stdio: ["ignore", "pipe", "ignore"] })
            : spawn(process.execPath, [CLI, "agents", "trace", String(target.pid)], { stdio: ["ignore", "pipe", "ignore"], env: { ...process.env, OPENSRE_HOME: join(dir, "home") } });
        const r = await measure(file, follower, name === "tail -f" ? "" : "Ctrl+C to stop", rate);
        follower.kill("SIGKILL");
        const w = rate === "max" ? "full speed" : "1,000 lines/s";
        out(`${name.padEnd(17)} ${w.padEnd(13)} ${String(r.shown).padStart(11)} ${r.p50.toFixed(2).padStart(8)} ${r.p99.toFixed(2).padStart(8)} ${r.cpu.toFixed(1).padStart(6)} ${r.rss.toFixed(1).padStart(14)}`);
      }
    }
  } finally {
    target.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  }
}
