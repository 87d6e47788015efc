import { spawn, type ChildProcess } from "node:child_process";
import { appendFileSync, copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { FleetCollector } from "../src/fleet/collector.js";
import { linuxClockTicks } from "../src/fleet/procfs.js";
import { claudeProjectDir } from "../src/fleet/transcripts/match.js";

/**
 * The live view's own cost with 50 agents among ~500 processes: its CPU at the default 2 s
 * refresh (read from /proc while it runs in a real pseudo-terminal) and how long a keypress
 * takes to be answered on screen, against the one-shot refresh (`/agents`) measured in the
 * same run. Targets: < 3% of one core; a key answered within 50 ms.
 */
const here = dirname(fileURLToPath(import.meta.url));
const CLI = join(here, "..", "src", "cli.js");
/** Another build's CLI (`BENCH_COMPARE_CLI=/path/to/dist/src/cli.js`): its view's CPU is measured too, before this build's, as "before". */
const COMPARE_CLI = process.env.BENCH_COMPARE_CLI;
const require = createRequire(import.meta.url);
const out = (s: string) => process.stdout.write(s + "\n");

interface IPty {
  onData(cb: (d: string) => void): void;
  write(d: string): void;
  kill(sig?: string): void;
  pid: number;
}

function cpuTicks(pid: number): number {
  const s = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
  return Number(f[11]) + Number(f[12]);
}

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export default async function main(): Promise<void> {
  if (process.platform !== "linux") return void out("skipped: needs /proc");
  const root = mkdtempSync(join(tmpdir(), "osre-tui-"));
  const kids: ChildProcess[] = [];
  let view: IPty | undefined;
  try {
    const bin = join(root, "bin");
    mkdirSync(bin);
    copyFileSync("/bin/sleep", join(bin, "claude"));
    const home = join(root, "home");
    const env: NodeJS.ProcessEnv = { ...process.env, OPENSRE_HOME: home, HOME: join(root, "u"), CLAUDE_CONFIG_DIR: join(root, "claude"), CODEX_HOME: join(root, "codex"), GEMINI_DIR: join(root, "gemini") };
    const now = Date.now();
    for (let i = 0; i < 50; i++) {
      const cwd = join(root, "work", `repo${i}`);
      mkdirSync(cwd, { recursive: true });
      kids.push(spawn(join(bin, "claude"), ["900"], { cwd, stdio: "ignore" }));
      const project = join(root, "claude", "projects", claudeProjectDir(cwd));
      mkdirSync(project, { recursive: true });
      let text = "";
      for (let j = 0; j < 100; j++) {
        text += JSON.stringify({ type: "assistant", cwd, sessionId: `s${i}`, timestamp: new Date(now - 25 * 60_000 + j * 15_000).toISOString(), requestId: `r${i}-${j}`, message: { id: `m${i}-${j}`, model: "claude-sonnet-4-5-20250929", content: [{ type: "tool_use", id: `t${j}`, name: "Edit", input: { file_path: `${cwd}/a.ts` } }], usage: { input_tokens: 100, output_tokens: 50 } } }) + "\n";
      }
      appendFileSync(join(project, `${String(i).padStart(8, "0")}-0000-4000-8000-000000000000.jsonl`), text);
    }
    const count = () => readdirSync("/proc").filter((n) => /^\d+$/.test(n)).length;
    for (let i = count(); i < 500; i++) kids.push(spawn("/bin/sleep", ["900"], { stdio: "ignore" }));
    await sleep(500);
    out(`processes: ${count()}, agents: 50 (plus whatever else runs here)`);

    // baseline: the one-shot refresh, in this process (the work of `/agents`)
    const collector = new FleetCollector({ home, env });
    let c0 = cpuMs();
    let t0 = performance.now();
    let snap = await collector.refresh();
    const firstCpu = cpuMs() - c0;
    const firstWall = performance.now() - t0;
    const steady: number[] = [];
    for (let i = 0; i < 5; i++) {
      c0 = cpuMs();
      snap = await collector.refresh();
      steady.push(cpuMs() - c0);
    }
    steady.sort((a, b) => a - b);
    const refreshCpu = pct(steady, 50);
    out(`one-shot refresh: ${firstCpu.toFixed(1)} ms CPU (${firstWall.toFixed(0)} ms wall, with the 250 ms CPU sample pair); a repeat refresh ${refreshCpu.toFixed(1)} ms CPU; ${snap.agents.length} agents`);
    out(`baseline: a refresh every 2 s costs ${((refreshCpu / 2000) * 100).toFixed(2)}% of one core`);

    // the view, in a real pseudo-terminal
    const nodePty = require("node-pty") as { spawn(f: string, a: string[], o: Record<string, unknown>): IPty };
    const hz = linuxClockTicks();
    const seconds = 30;
    if (COMPARE_CLI) {
      const c = nodePty.spawn(process.execPath, [COMPARE_CLI, "top"], { name: "xterm-256color", cols: 160, rows: 60, cwd: root, env });
      c.onData(() => undefined);
      await sleep(8000);
      const before = cpuTicks(c.pid);
      await sleep(seconds * 1000);
      const used = ((cpuTicks(c.pid) - before) * 1000) / hz;
      out(`compared build's view at the 2 s refresh: ${((used / (seconds * 1000)) * 100).toFixed(2)}% of one core over ${seconds} s (${used.toFixed(0)} ms CPU)`);
      c.kill("SIGKILL");
    }
    const v = nodePty.spawn(process.execPath, [CLI, "top"], { name: "xterm-256color", cols: 160, rows: 60, cwd: root, env });
    view = v;
    let bytes = 0;
    let lastData = 0;
    let waiter: (() => void) | null = null;
    v.onData((d) => {
      bytes += d.length;
      lastData = performance.now();
      waiter?.();
    });
    // warm up: start, first refreshes, JIT
    await sleep(8000);
    const before = cpuTicks(v.pid);
    const b0 = bytes;
    await sleep(seconds * 1000);
    const used = ((cpuTicks(v.pid) - before) * 1000) / hz;
    out(`view at the 2 s refresh: ${((used / (seconds * 1000)) * 100).toFixed(2)}% of one core over ${seconds} s (${used.toFixed(0)} ms CPU, ${((bytes - b0) / seconds / 1024).toFixed(1)} KiB/s to the terminal)`);

    // key latency: a selection move, until the view has written its answer
    const lat: number[] = [];
    for (let i = 0; i < 40; i++) {
      await sleep(120);
      const answered = new Promise<void>((r) => (waiter = r));
      const t = performance.now();
      v.write(i % 2 ? "k" : "j");
      await Promise.race([answered, sleep(2000)]);
      waiter = null;
      lat.push(lastData - t);
    }
    lat.sort((a, b) => a - b);
    out(`keypress answered: p50 ${pct(lat, 50).toFixed(1)} ms, p95 ${pct(lat, 95).toFixed(1)} ms, max ${lat[lat.length - 1]!.toFixed(1)} ms (target: 50 ms)`);
    v.write("q");
    await sleep(500);
  } finally {
    try {
      view?.kill("SIGKILL");
    } catch {
      /* gone */
    }
    for (const k of kids) k.kill("SIGKILL");
    rmSync(root, { recursive: true, force: true });
  }
}
