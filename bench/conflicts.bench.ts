import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, watch as fsWatch, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { detectConflicts } from "../src/conflicts/detect.js";
import type { AgentRef, WriteEvent } from "../src/conflicts/model.js";
import { RepoWatcher } from "../src/conflicts/watcher.js";

/**
 * Conflict detection over 1,000,000 write events (vs a bare group-by + sort of the same
 * events), and the disk watcher on a 50,000-file repository: start-up, idle CPU (vs an
 * idle process measured the same way) and events/s sustained under a write storm.
 */
const out = (s: string) => process.stdout.write(s + "\n");

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

function detectionBench(): void {
  const n = Number(process.env.BENCH_WRITES ?? 1_000_000);
  const agents: AgentRef[] = Array.from({ length: 50 }, (_, i) => ({ name: `agent${i}`, pid: 1000 + i, startTime: i }));
  let seed = 42;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  const events: WriteEvent[] = new Array(n);
  const t0 = Date.now() - 3_600_000;
  for (let i = 0; i < n; i++) {
    events[i] = { path: `/repo/src/module${Math.floor(rnd() * 20_000)}.ts`, at: t0 + Math.floor(rnd() * 3_600_000), agent: agents[Math.floor(rnd() * 50)]!, source: "transcript", via: "Edit" };
  }
  // baseline: group the same events by path and sort each group by time
  const b0 = performance.now();
  const groups = new Map<string, WriteEvent[]>();
  for (const e of events) {
    const g = groups.get(e.path);
    if (g) g.push(e);
    else groups.set(e.path, [e]);
  }
  for (const g of groups.values()) g.sort((a, b) => a.at - b.at);
  const base = performance.now() - b0;
  const d0 = performance.now();
  const conflicts = detectConflicts(events, { windowMs: 10_000, from: 0 });
  const det = performance.now() - d0;
  out(`detection over ${n.toLocaleString("en-US")} write events (20,000 paths, 50 agents, 1 h): ${det.toFixed(0)} ms, ${conflicts.length.toLocaleString("en-US")} conflicts`);
  out(`  baseline: group by path + sort by time of the same events ${base.toFixed(0)} ms`);
}

async function idleCpu(ms: number): Promise<number> {
  const c0 = cpuMs();
  const w0 = performance.now();
  await new Promise((r) => setTimeout(r, ms));
  return (100 * (cpuMs() - c0)) / (performance.now() - w0);
}

async function watcherBench(root: string): Promise<void> {
  const files = Number(process.env.BENCH_REPO_FILES ?? 50_000);
  const repo = join(root, "repo");
  const perDir = 100;
  for (let d = 0; d < files / perDir; d++) {
    const dir = join(repo, `pkg${Math.floor(d / 20)}`, `dir${d}`);
    mkdirSync(dir, { recursive: true });
    for (let f = 0; f < perDir; f++) writeFileSync(join(dir, `f${f}.ts`), "export {};\n");
  }
  const baseline = await idleCpu(3000);
  let events = 0;
  const w = new RepoWatcher(() => events++, () => ({ writers: () => [] }));
  const s0 = performance.now();
  await w.setRoots([repo]);
  const startMs = performance.now() - s0;
  const idle = await idleCpu(5000);
  // a write storm from another process: rewrite files round-robin for 3 s
  const stormFor = async (count: () => number) => {
    const storm = spawn(process.execPath, ["-e", `const fs=require("fs");const end=Date.now()+3000;let i=0;while(Date.now()<end){const d=i%${files / perDir};fs.writeFileSync(${JSON.stringify(repo)}+"/pkg"+Math.floor(d/20)+"/dir"+d+"/f"+(i%${perDir})+".ts","x"+i);i++}console.log(i)`], { stdio: ["ignore", "pipe", "inherit"] });
    let written = "";
    storm.stdout!.on("data", (d: Buffer) => (written += d.toString()));
    const e0 = count();
    const c0 = cpuMs();
    const t0 = performance.now();
    await new Promise((r) => storm.once("exit", r));
    await new Promise((r) => setTimeout(r, 500));
    const secs = (performance.now() - t0) / 1000;
    return { written: Number(written.trim()), got: count() - e0, secs, cpu: (100 * (cpuMs() - c0)) / (secs * 1000) };
  };
  const { written, got, secs, cpu } = await stormFor(() => events);
  await w.close();
  // baseline: bare fs.watch on every directory, no processing
  let raw = 0;
  const dirs = readdirSync(repo).flatMap((p) => readdirSync(join(repo, p)).map((d) => join(repo, p, d)));
  const watchers = dirs.map((d) => fsWatch(d, () => raw++));
  const b = await stormFor(() => raw);
  for (const x of watchers) x.close();
  out(`disk watcher on a ${files.toLocaleString("en-US")}-file repository (${files / perDir} directories):`);
  out(`  start-up ${(startMs / 1000).toFixed(1)} s; idle CPU ${idle.toFixed(2)}% (baseline idle process ${baseline.toFixed(2)}%)`);
  out(`  write storm: ${written.toLocaleString("en-US")} writes in 3 s by another process, ${got.toLocaleString("en-US")} events = ${(got / secs).toFixed(0)} events/s (chokidar coalesces), watcher CPU ${cpu.toFixed(0)}%`);
  out(`  baseline bare fs.watch per directory: ${b.written.toLocaleString("en-US")} writes, ${b.got.toLocaleString("en-US")} raw notifications = ${(b.got / b.secs).toFixed(0)}/s, CPU ${b.cpu.toFixed(0)}%`);
}

export default async function conflictsBench(): Promise<void> {
  detectionBench();
  const root = mkdtempSync(join(tmpdir(), "osre-bench-"));
  try {
    await watcherBench(root);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
