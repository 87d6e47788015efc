import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, statSync, symlinkSync } from "node:fs";
import { dirname, join } from "node:path";
import { REPO_ROOT, tempDir } from "../test/helpers/env.js";

/**
 * Start time and installed size, as a user gets the tool: `npm pack` of this checkout installed
 * globally into a temp prefix (no compiler on PATH), then the installed `opensre` timed against
 * `node -e 0` in the same run, runs interleaved so load spikes hit every command alike.
 *
 * Targets (issue 15): a one-shot `opensre agents --json` within 2.5× `node -e 0`; `--help` and
 * `--version` within 1.3×; installed size under 15 MB without the optional telemetry exporters.
 */

/** Runs per command; the median is reported (robust to a busy neighbour on a shared machine). */
const RUNS = 21;
const NPM_CLI = join(dirname(process.execPath), "..", "lib", "node_modules", "npm", "bin", "npm-cli.js");

function duBytes(path: string): number {
  let total = 0;
  const st = statSync(path, { throwIfNoEntry: false });
  if (!st) return 0;
  if (!st.isDirectory()) return st.size;
  for (const e of readdirSync(path, { withFileTypes: true })) {
    const p = join(path, e.name);
    if (e.isSymbolicLink()) continue;
    total += e.isDirectory() ? duBytes(p) : statSync(p).size;
  }
  return total;
}

const mb = (b: number) => `${(b / 1e6).toFixed(1)} MB`;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function install(dir: string): string | undefined {
  const bin = join(dir, "bin");
  mkdirSync(bin);
  symlinkSync(process.execPath, join(bin, "node"));
  symlinkSync("/bin/sh", join(bin, "sh"));
  const npm = (args: string[], env: NodeJS.ProcessEnv = process.env) => spawnSync(process.execPath, [NPM_CLI, ...args], { cwd: REPO_ROOT, env, encoding: "utf8", timeout: 300_000 });
  const config = (key: string) => npm(["config", "get", key]).stdout.trim();
  const pack = npm(["pack", "--ignore-scripts", "--json", "--pack-destination", dir]);
  if (pack.status !== 0) return undefined;
  const tarball = join(dir, (JSON.parse(pack.stdout) as Array<{ filename: string }>)[0]!.filename);
  const prefix = join(dir, "prefix");
  const env = { ...process.env, PATH: bin, HOME: join(dir, "home"), npm_config_globalconfig: config("globalconfig"), npm_config_userconfig: config("userconfig"), npm_config_cache: config("cache") };
  const r = npm(["install", "--global", "--prefix", prefix, "--prefer-offline", "--no-audit", "--no-fund", tarball], env);
  if (r.status !== 0) {
    process.stdout.write(`install failed (${r.stderr.trim().split("\n").pop()}); timing the checkout's build instead\n`);
    return undefined;
  }
  return prefix;
}

export default async function bench(): Promise<void> {
  const dir = tempDir("osre-bench-");
  try {
    const prefix = install(dir.path);
    const pkgDir = prefix ? join(prefix, "lib", "node_modules", "opensre-agents") : REPO_ROOT;
    const cli = join(pkgDir, "dist", "src", "cli.js");
    if (prefix) {
      const total = duBytes(pkgDir);
      const deps = join(pkgDir, "node_modules");
      const sizes = readdirSync(deps)
        .filter((n) => !n.startsWith("."))
        .flatMap((n) => (n.startsWith("@") && n !== "@opentelemetry" ? readdirSync(join(deps, n)).map((m) => `${n}/${m}`) : [n]))
        .map((n) => [n, duBytes(join(deps, n))] as const)
        .sort((a, b) => b[1] - a[1]);
      const otel = sizes.filter(([n]) => n === "@opentelemetry" || n === "protobufjs" || n.startsWith("@protobufjs")).reduce((a, [, b]) => a + b, 0);
      process.stdout.write(`installed size: ${mb(total)} (target < 15 MB without the optional telemetry exporters: ${mb(total - otel)} without OpenTelemetry/protobuf)\n`);
      process.stdout.write(`  the package itself ${mb(duBytes(join(pkgDir, "dist")) + duBytes(join(pkgDir, "docs")))}; largest dependencies: ${sizes.slice(0, 8).map(([n, b]) => `${n} ${mb(b)}`).join(", ")}\n`);
    }

    const home = join(dir.path, "h");
    mkdirSync(home);
    const env: NodeJS.ProcessEnv = { ...process.env, OPENSRE_HOME: home, HOME: join(dir.path, "home"), NO_COLOR: "1" };
    for (const k of Object.keys(env)) if (k.startsWith("OPENSRE_") && k !== "OPENSRE_HOME") delete env[k];
    // the start-up cost alone: an empty process table (no agent, so no CPU sample pair to wait for);
    // the machine's own fleet adds its transcripts and the 250 ms first CPU sample pair
    const emptyProc = join(dir.path, "proc");
    mkdirSync(emptyProc);
    const commands: Array<{ label: string; args: string[]; target?: number; env?: Record<string, string> }> = [
      { label: "node -e 0", args: ["-e", "0"] },
      { label: "opensre --version", args: [cli, "--version"], target: 1.3 },
      { label: "opensre --help", args: [cli, "--help"], target: 1.3 },
      { label: "opensre agents --json", args: [cli, "agents", "--json"], target: 2.5, env: { OPENSRE_PROC_ROOT: emptyProc } },
      { label: "  same, this machine's fleet", args: [cli, "agents", "--json"] },
      { label: "opensre agents budget", args: [cli, "agents", "budget"] },
    ];
    const times = new Map<string, number[]>(commands.map((c) => [c.label, []]));
    for (let i = 0; i < RUNS; i++) {
      for (const c of commands) {
        const t = process.hrtime.bigint();
        const r = spawnSync(process.execPath, c.args, { env: { ...env, ...c.env }, stdio: ["ignore", "ignore", "pipe"] });
        const ms = Number(process.hrtime.bigint() - t) / 1e6;
        if (r.status !== 0) throw new Error(`${c.label} failed: ${r.stderr}`);
        if (i > 0) times.get(c.label)!.push(ms); // the first round warms the file cache
      }
    }
    const base = median(times.get("node -e 0")!);
    process.stdout.write(`start time, median of ${RUNS - 1} interleaved runs (${prefix ? "installed package" : "checkout"}):\n`);
    for (const c of commands) {
      const m = median(times.get(c.label)!);
      const ratio = m / base;
      const verdict = c.target === undefined ? "" : ratio <= c.target ? `  (target ≤ ${c.target}×: met)` : `  (target ≤ ${c.target}×: NOT met)`;
      process.stdout.write(`  ${c.label.padEnd(30)} ${m.toFixed(0).padStart(5)} ms  ${ratio.toFixed(2)}×${verdict}\n`);
    }
  } finally {
    dir.cleanup();
  }
}
