import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { appendFileSync, copyFileSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, closeSync, readSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { FleetCollector } from "../src/fleet/collector.js";
import { claudeProjectDir } from "../src/fleet/transcripts/match.js";

/**
 * Fleet refresh with ~500 processes and 50 agents (vs a bare /proc pass and `ps`), then
 * transcript ingest of a large Claude directory (vs reading + JSON.parse of the same bytes),
 * the cost of an incremental refresh after 1 MB is appended, and peak RSS.
 */
const here = dirname(fileURLToPath(import.meta.url));
const out = (s: string) => process.stdout.write(s + "\n");

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

function bareProcPass(): number {
  let n = 0;
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      readFileSync(`/proc/${name}/stat`, "utf8");
      readFileSync(`/proc/${name}/cmdline`, "utf8");
      n++;
    } catch {
      /* gone */
    }
  }
  return n;
}

async function refreshBench(root: string): Promise<void> {
  const bin = join(root, "bin");
  mkdirSync(bin);
  copyFileSync("/bin/sleep", join(bin, "claude"));
  const claudeDir = join(root, "claude");
  const kids: ChildProcess[] = [];
  try {
    const now = Date.now();
    for (let i = 0; i < 50; i++) {
      const cwd = join(root, "work", `repo${i}`);
      mkdirSync(cwd, { recursive: true });
      kids.push(spawn(join(bin, "claude"), ["600"], { cwd, stdio: "ignore" }));
      const project = join(claudeDir, "projects", claudeProjectDir(cwd));
      mkdirSync(project, { recursive: true });
      let text = "";
      for (let j = 0; j < 200; j++) {
        text += JSON.stringify({ type: "assistant", cwd, sessionId: `s${i}`, timestamp: new Date(now + 1000 + j).toISOString(), requestId: `r${i}-${j}`, message: { id: `m${i}-${j}`, model: "claude-sonnet-4-5-20250929", content: [{ type: "text", text: "ok" }], usage: { input_tokens: 100, output_tokens: 50, cache_read_input_tokens: 1000 } } }) + "\n";
      }
      appendFileSync(join(project, `0000000${i}-0000-4000-8000-000000000000.jsonl`.slice(-42)), text);
    }
    const before = readdirSync("/proc").filter((n) => /^\d+$/.test(n)).length;
    for (let i = before; i < 500 - 0; i++) kids.push(spawn("/bin/sleep", ["600"], { stdio: "ignore" }));
    await new Promise((r) => setTimeout(r, 500));
    const procs = readdirSync("/proc").filter((n) => /^\d+$/.test(n)).length;
    const env = { ...process.env, CLAUDE_CONFIG_DIR: claudeDir, HOME: join(root, "nohome") };
    const collector = new FleetCollector({ home: join(root, "home"), env, firstSampleMs: 100 });
    const t0 = performance.now();
    const first = await collector.refresh();
    const firstMs = performance.now() - t0;
    const times: number[] = [];
    const c0 = cpuMs();
    for (let i = 0; i < 10; i++) {
      const t = performance.now();
      await collector.refresh();
      times.push(performance.now() - t);
    }
    const cpu = (cpuMs() - c0) / 10;
    times.sort((a, b) => a - b);
    const b0 = performance.now();
    for (let i = 0; i < 10; i++) bareProcPass();
    const bare = (performance.now() - b0) / 10;
    const p0 = performance.now();
    for (let i = 0; i < 5; i++) execFileSync("ps", ["-e", "-o", "pid=,args="], { maxBuffer: 1 << 26 });
    const ps = (performance.now() - p0) / 5;
    const mapped = first.agents.filter((a) => a.transcript).length;
    out(`refresh with ${procs} processes, ${first.agents.length} agents (${mapped} mapped to transcripts):`);
    out(`  first refresh (incl. ${100} ms CPU sample pair, first transcript load): ${firstMs.toFixed(1)} ms`);
    out(`  steady refresh: median ${times[5]!.toFixed(1)} ms, max ${times[9]!.toFixed(1)} ms, CPU ${cpu.toFixed(1)} ms per refresh`);
    out(`  baseline: bare /proc pass (stat+cmdline of every pid) ${bare.toFixed(1)} ms; \`ps -e -o pid,args\` ${ps.toFixed(1)} ms`);
  } finally {
    for (const k of kids) k.kill("SIGKILL");
  }
}

async function ingestBench(root: string): Promise<void> {
  const mb = Number(process.env.BENCH_TX_MB ?? "1024");
  const claudeDir = join(root, "claude-big");
  const files = 64;
  const month = 30 * 24 * 3600 * 1000;
  const start = Date.now() - month;
  const paths: string[] = [];
  let written = 0;
  const per = (mb * 1024 * 1024) / files;
  for (let f = 0; f < files; f++) {
    const project = join(claudeDir, "projects", `-home-dev-repo${f % 8}`);
    mkdirSync(project, { recursive: true });
    const path = join(project, `${String(f).padStart(8, "0")}-0000-4000-8000-000000000000.jsonl`);
    paths.push(path);
    const fd = openSync(path, "w");
    let size = 0;
    let j = 0;
    let chunk = "";
    while (size < per) {
      const line = JSON.stringify({ parentUuid: `u${j - 1}`, isSidechain: false, userType: "external", cwd: `/home/dev/repo${f % 8}`, sessionId: `s${f}`, version: "2.0.14", type: "assistant", timestamp: new Date(start + ((f * per + size) / (mb * 1024 * 1024)) * (month - 3 * 3600_000)).toISOString(), requestId: `req_${f}_${j}`, message: { id: `msg_${f}_${j}`, type: "message", role: "assistant", model: "claude-sonnet-4-5-20250929", content: [{ type: "text", text: "x".repeat(300) }], usage: { input_tokens: 12, cache_creation_input_tokens: 400, cache_read_input_tokens: 18000, output_tokens: 310 } }, uuid: `a${j}` }) + "\n";
      chunk += line;
      size += line.length;
      j++;
      if (chunk.length > 1 << 20) {
        writeSync(fd, chunk);
        chunk = "";
      }
    }
    writeSync(fd, chunk);
    closeSync(fd);
    written += size;
  }
  const totalMb = written / (1024 * 1024);
  // baseline: read the same bytes and JSON.parse every line
  const b0 = performance.now();
  const buf = Buffer.allocUnsafe(1 << 20);
  for (const p of paths) {
    const fd = openSync(p, "r");
    let rest = "";
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      const text = rest + buf.toString("utf8", 0, n);
      const lines = text.split("\n");
      rest = lines.pop()!;
      for (const l of lines) JSON.parse(l);
    }
    closeSync(fd);
  }
  const baseS = (performance.now() - b0) / 1000;
  const child = execFileSync(process.execPath, [join(here, "fleet-ingest.child.js"), claudeDir, join(root, "nohome"), paths[0]!], {
    encoding: "utf8",
    maxBuffer: 1 << 20,
  });
  const r = JSON.parse(child.trim().split("\n").pop()!) as { firstS: number; incMs: number; incBytes: number; noopMs: number; idleRssMiB: number; peakRssMiB: number };
  const firstS = r.firstS;
  const incMs = r.incMs;
  const incBytes = r.incBytes;
  const noopMs = r.noopMs;
  out(`ingest of ${totalMb.toFixed(0)} MB of Claude transcripts (${files} files):`);
  out(`  first load ${firstS.toFixed(1)} s = ${(totalMb / firstS).toFixed(0)} MB/s; baseline read + JSON.parse ${baseS.toFixed(1)} s = ${(totalMb / baseS).toFixed(0)} MB/s`);
  out(`  incremental refresh after appending 1 MB: ${incMs.toFixed(1)} ms, ${(incBytes / (1024 * 1024)).toFixed(2)} MB read; refresh with nothing new: ${noopMs.toFixed(1)} ms`);
  out(`  peak RSS of the ingesting process: ${r.peakRssMiB.toFixed(0)} MiB (Node floor in that process ${r.idleRssMiB.toFixed(0)} MiB)`);
}

export default async function fleetBench(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), "osre-bench-"));
  try {
    await refreshBench(root);
    await ingestBench(root);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
