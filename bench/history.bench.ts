import { execFileSync, spawnSync } from "node:child_process";
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { writeTree } from "./history-tree.js";
import { HistoryStore } from "../src/history/store.js";
import { buildReport, type GroupBy } from "../src/history/report.js";
import { USAGE_COUNTERS } from "../src/history/schema.js";

/**
 * History: a cold backfill of a ~1 GB Claude Code tree against the reference reporter
 * (`ccusage daily --offline`, native code, run in the same session) and against reading +
 * JSON.parse of every line of the same files; peak RSS; an incremental refresh after 1 MB is
 * appended; `report` over a year of history (from the day table and edges, against the same report
 * from minute/hour rows alone). BENCH_HISTORY_PARTS=report runs only the report part. BENCH_HISTORY_MB sets the tree size (default 1024).
 * The reference reporter is installed on first use into node_modules/.cache (its npm package
 * lists platform binaries that the registry here does not all have, so it cannot be a locked
 * dev dependency: `npm ci` would refuse the lock).
 */
const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, "..", "..");
const out = (s: string) => process.stdout.write(s + "\n");
const REFERENCE = "ccusage@20.0.24";

function referenceReporter(): string | null {
  const prefix = join(repo, "node_modules", ".cache", "opensre-bench", REFERENCE.replace("@", "-"));
  const bin = join(prefix, "node_modules", ".bin", "ccusage");
  if (!existsSync(bin)) {
    mkdirSync(prefix, { recursive: true });
    try {
      execFileSync("npm", ["install", "--prefix", prefix, "--no-save", "--no-package-lock", "--no-audit", "--no-fund", REFERENCE], { stdio: "ignore" });
    } catch {
      return null;
    }
  }
  return existsSync(bin) ? bin : null;
}

interface Timed {
  wallS: number;
  cpuS: number;
  rssMiB: number;
  stdout: string;
}

/** Run a command under GNU time: wall, user+sys CPU of the whole process tree, peak RSS. */
function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv): Timed {
  const tfile = join(tmpdir(), `osre-time-${process.pid}`);
  const r = spawnSync("/usr/bin/time", ["-f", "%e %U %S %M", "-o", tfile, cmd, ...args], { env, encoding: "utf8", maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stderr}`);
  const [e, u, s, m] = readFileSync(tfile, "utf8").trim().split(/\s+/).slice(-4).map(Number) as [number, number, number, number];
  rmSync(tfile, { force: true });
  return { wallS: e, cpuS: u + s, rssMiB: m / 1024, stdout: r.stdout };
}

/** Baseline: read every file and JSON.parse every line, one thread. */
function readAndParse(files: readonly string[]): { wallS: number; cpuS: number } {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const buf = Buffer.allocUnsafe(1 << 20);
  for (const p of files) {
    const fd = openSync(p, "r");
    let rest = "";
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      const lines = (rest + buf.toString("utf8", 0, n)).split("\n");
      rest = lines.pop()!;
      for (const l of lines) if (l) JSON.parse(l);
    }
    closeSync(fd);
  }
  const c = process.cpuUsage(c0);
  return { wallS: (performance.now() - t0) / 1000, cpuS: (c.user + c.system) / 1e6 };
}

function existingTree(dir: string): { dir: string; files: string[]; bytes: number } {
  const files: string[] = [];
  let bytes = 0;
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith(".jsonl")) {
        files.push(p);
        bytes += statSync(p).size;
      }
    }
  };
  walk(join(dir, "projects"));
  return { dir, files: files.sort(), bytes };
}

function fmt(t: { wallS: number; cpuS: number; rssMiB?: number }): string {
  return `${t.wallS.toFixed(1)} s wall / ${t.cpuS.toFixed(1)} s CPU${t.rssMiB !== undefined ? ` / ${t.rssMiB.toFixed(0)} MiB peak RSS` : ""}`;
}

async function backfillBench(root: string): Promise<void> {
  const mb = Number(process.env.BENCH_HISTORY_MB ?? "1024");
  // BENCH_HISTORY_TREE: a Claude config dir written earlier by writeTree (saves its minutes of generation)
  const tree = process.env.BENCH_HISTORY_TREE ? existingTree(process.env.BENCH_HISTORY_TREE) : writeTree(join(root, "tree"), mb * 1024 * 1024);
  const gb = tree.bytes / 1024 ** 3;
  out(`cold backfill of ${(tree.bytes / 1024 ** 2).toFixed(0)} MB of Claude Code transcripts (${tree.files.length} files), 2 runs each, best shown:`);
  const nohome = join(root, "nohome");
  mkdirSync(nohome, { recursive: true });
  const base = readAndParse(tree.files); // also warms the page cache for both tools
  const ref = referenceReporter();
  const refEnv = { PATH: process.env.PATH, HOME: nohome, CLAUDE_CONFIG_DIR: tree.dir, CODEX_HOME: join(nohome, "codex"), GEMINI_DIR: join(nohome, "gemini"), NO_COLOR: "1" };
  const ours: Array<Timed & { child: Record<string, unknown> }> = [];
  const refs: Timed[] = [];
  for (let run = 0; run < 2; run++) {
    if (ref) refs.push(timed(ref, ["daily", "--offline", "--json"], refEnv));
    const home = join(root, `home${run}`);
    const child = join(here, "history-backfill.child.js");
    const t = timed(process.execPath, [child, "cold", tree.dir, home, tree.files[0]!], { ...process.env, TZ: "UTC" });
    // the refresh figures, in a second process on the store the first one filled
    const inc = JSON.parse(execFileSync(process.execPath, [child, "incremental", tree.dir, home, tree.files[0]!], { env: { ...process.env, TZ: "UTC" }, encoding: "utf8" }).trim().split("\n").pop()!) as Record<string, unknown>;
    ours.push({ ...t, child: { ...(JSON.parse(t.stdout.trim().split("\n").pop()!) as Record<string, unknown>), ...inc } });
    rmSync(home, { recursive: true, force: true });
  }
  const best = <T extends { wallS: number }>(xs: T[]) => xs.reduce((a, b) => (b.wallS < a.wallS ? b : a));
  const o = best(ours);
  const c = o.child as { wallS: number; cpuS: number; peakRssMiB: number; totals: Record<string, number>; incremental: number[]; requests: number[]; firstMs: number; noopMs: number; files: number; appended: number };
  out(`  ours (history backfill, ${c.totals.requests} requests): ${fmt(o)} (in-process: ${c.wallS.toFixed(1)} s wall, ${c.peakRssMiB.toFixed(0)} MiB peak RSS)`);
  if (refs.length) {
    const r = best(refs);
    out(`  reference reporter (${REFERENCE} daily --offline): ${fmt(r)}`);
    out(`  ratio ours / reference: ${(o.wallS / r.wallS).toFixed(2)}× wall (target ≤ 1.5×), ${(o.cpuS / r.cpuS).toFixed(2)}× CPU`);
    const rep = JSON.parse(r.stdout) as { totals?: Record<string, number> };
    const rt = rep.totals ?? {};
    const agree = rt.inputTokens === c.totals.input && rt.outputTokens === c.totals.output && rt.cacheCreationTokens === c.totals.cacheWrite && rt.cacheReadTokens === c.totals.cacheRead;
    out(`  tokens: ours input ${c.totals.input}, output ${c.totals.output}, cache write ${c.totals.cacheWrite}, cache read ${c.totals.cacheRead}; reference ${rt.inputTokens}, ${rt.outputTokens}, ${rt.cacheCreationTokens}, ${rt.cacheReadTokens}: ${agree ? "equal" : "DIFFERENT"}`);
    out(`  cost: ours $${(c.totals.usd ?? 0).toFixed(2)}, reference $${(rt.totalCost ?? 0).toFixed(2)} (price tables differ by source and date)`);
  } else out(`  reference reporter: ${REFERENCE} could not be installed here; not measured`);
  out(`  baseline read + JSON.parse of every line (one thread): ${fmt(base)} = ${(gb * 1024 / base.wallS).toFixed(0)} MB/s`);
  const incs = ours.map((x) => x.child as typeof c);
  out(
    `  incremental refresh after +${(c.appended / 1024 / 1024).toFixed(2)} MB appended (a long-lived process watching ${c.files} files; ${c.requests.join("/")} requests each): ` +
      `${incs.map((x) => x.incremental.map((v) => `${v.toFixed(1)} ms`).join(", ")).join("; ")} (the first re-reads 256 KB before its offset; the price catalogue was loaded by the first look; target < 50 ms); ` +
      `nothing new: ${incs.map((x) => `${x.noopMs.toFixed(1)} ms`).join(", ")}; a new process's first look (list and stat every file): ${incs.map((x) => `${x.firstMs.toFixed(0)} ms`).join(", ")}`,
  );
}

/** A year of history: 12 sessions a day under 6 agent names, 6 active hours each, 2 models; minutes for the last 14 days. */
function yearStore(home: string): HistoryStore {
  const store = HistoryStore.open(home, process.env);
  const now = Date.now();
  const H = 3_600_000;
  const cols = ["session", "t", "model", ...USAGE_COUNTERS];
  const put = (table: string) => store.db.prepare(`INSERT INTO ${table} (${cols.join(", ")}) VALUES (${cols.map(() => "?").join(", ")})`);
  store.write(() => {
    const hour = put("usage_hour");
    const minute = put("usage_minute");
    const models = [store.modelId("claude-sonnet-4-5-20250929"), store.modelId("gpt-5-codex")];
    let n = 0;
    for (let d = 365; d >= 0; d--) {
      for (let k = 0; k < 12; k++) {
        const s = store.sessionId({ provider: k % 3 ? "claude-code" : "codex", key: `s-${d}-${k}`, sessionId: `s-${d}-${k}`, parentSessionId: null, cwd: `/home/dev/project-${k % 5}` });
        store.nameSession(s, `agent-${k % 6}`);
        const startHour = Math.floor((now - d * 24 * H) / H) - 8 + (k % 4);
        for (let h = 0; h < 6; h++) {
          for (const m of models) {
            const v = USAGE_COUNTERS.map((_, i) => (i === 8 ? 0.5 + (n % 7) : i < 12 ? 10 + ((n * (i + 3)) % 97) : (n + i) % 3));
            n++;
            hour.run(s, startHour + h, m, ...v);
            if (d <= 14) for (let mi = 0; mi < 60; mi += 3) minute.run(s, (startHour + h) * 60 + mi, m, ...v);
          }
        }
      }
    }
  });
  store.rebuildDays(); // what the first report does after an upgrade; written as usage is counted otherwise
  return store;
}

function reportBench(root: string): void {
  const home = join(root, "year");
  const store = yearStore(home);
  const rows = (store.db.prepare("SELECT count(*) AS n FROM usage_hour").get() as { n: number }).n;
  out(`report over a year of history (${rows} hour rows, ${(store.db.prepare("SELECT count(*) AS n FROM sessions").get() as { n: number }).n} sessions):`);
  const now = Date.now();
  const cases: Array<[GroupBy, number | null]> = [["agent", null], ["model", null], ["day", null], ["month", null], ["project", now - 7 * 86_400_000]];
  const zone = store.getMeta("day_zone")!;
  const median = (by: GroupBy, since: number | null, days: boolean) => {
    store.write(() => store.putMeta("day_zone", days ? zone : "")); // "": the day table unused, minute/hour rows alone
    const times: number[] = [];
    for (let i = 0; i < 7; i++) {
      const t0 = performance.now();
      buildReport(store, { by, since, until: null, now });
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    return times;
  };
  out(`  (${(store.db.prepare("SELECT count(*) AS n FROM usage_day").get() as { n: number }).n} day rows; baseline: the same report from minute/hour rows alone, interleaved)`);
  for (const [by, since] of cases) {
    const base = median(by, since, false);
    const times = median(by, since, true);
    out(
      `  --by ${by}${since ? " --since 7d (minute rows)" : " (all history)"}: median ${times[3]!.toFixed(1)} ms, max ${times[6]!.toFixed(1)} ms (target < 200 ms); ` +
        `baseline median ${base[3]!.toFixed(1)} ms (${(base[3]! / times[3]!).toFixed(1)}× faster)`,
    );
  }
  store.close();
  const env = { ...process.env, OPENSRE_HOME: home, HOME: join(root, "nohome"), CLAUDE_CONFIG_DIR: join(root, "noclaude"), CODEX_HOME: join(root, "nocodex"), GEMINI_DIR: join(root, "nogemini") }; // the zone of this process, as the day table
  const cli = join(here, "..", "src", "cli.js");
  const e2e: number[] = [];
  const bare: number[] = [];
  for (let i = 0; i < 3; i++) {
    let t0 = performance.now();
    execFileSync(process.execPath, [cli, "agents", "report", "--by", "month"], { env, stdio: "ignore" });
    e2e.push(performance.now() - t0);
    t0 = performance.now();
    execFileSync(process.execPath, ["-e", ""], { stdio: "ignore" });
    bare.push(performance.now() - t0);
  }
  out(`  \`opensre agents report --by month\` end to end (process start, store open, transcript check, query, table): best ${Math.min(...e2e).toFixed(0)} ms; baseline \`node -e ''\` ${Math.min(...bare).toFixed(0)} ms`);
}

export default async function historyBench(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), "osre-hbench-"));
  try {
    const parts = (process.env.BENCH_HISTORY_PARTS ?? "backfill,report").split(",");
    if (parts.includes("backfill")) await backfillBench(root);
    if (parts.includes("report")) reportBench(root);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
