import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, unlinkSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { FleetCollector } from "../src/fleet/collector.js";
import { claudeProjectDir } from "../src/fleet/transcripts/paths.js";

/**
 * History does not make the live commands slow: a Claude project folder holding 100k old
 * session files (BENCH_SESSION_FILES), against the same commands in a folder holding only the
 * live session, measured in the same run. For each: a one-shot `opensre agents --json`, the
 * Claude Code pre-tool hook, and a live refresh with nothing changed (the live view and the
 * watchdog), with Claude's own record of its session (`sessions/<pid>.json`, as Claude Code
 * 2.1 writes it) and without one (older Claude: its project's folder is listed).
 */
const here = dirname(fileURLToPath(import.meta.url));
const CLI = join(here, "..", "src", "cli.js");
/** Another build's CLI (`BENCH_COMPARE_CLI=/path/to/dist/src/cli.js`): its one-shots are timed on the same files, as "before". */
const COMPARE_CLI = process.env.BENCH_COMPARE_CLI;
const out = (s: string) => process.stdout.write(s + "\n");
/** One-shot runs per case; the median is reported. */
const RUNS = 3;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

const sid = (i: number) => `${i.toString(16).padStart(8, "0")}-2222-4333-8444-555555555555`;

function line(session: string, cwd: string, at: number, id: string): string {
  return JSON.stringify({ type: "assistant", cwd, sessionId: session, timestamp: new Date(at).toISOString(), message: { id, model: "claude-sonnet-4-5-20250929", content: [{ type: "text", text: "ok" }], usage: { input_tokens: 10, output_tokens: 5 } } }) + "\n";
}

/** Wall ms of one CLI run (its output discarded). */
function timed(args: string[], env: NodeJS.ProcessEnv, cwd: string, input?: string, cli = CLI): number {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [cli, ...args], { env, cwd, input, stdio: [input === undefined ? "ignore" : "pipe", "ignore", "pipe"], timeout: 600_000 });
  if (r.status !== 0 && r.status !== 2) out(`  (exit ${r.status}: ${String(r.stderr).trim().slice(0, 200)})`);
  return performance.now() - t0;
}

export default async function main(): Promise<void> {
  if (process.platform !== "linux") return void out("skipped: needs /proc");
  const n = Number(process.env.BENCH_SESSION_FILES ?? 100_000);
  const root = mkdtempSync(join(tmpdir(), "osre-sessions-"));
  const kids: ChildProcess[] = [];
  try {
    const bin = join(root, "bin");
    mkdirSync(bin);
    copyFileSync("/bin/sleep", join(bin, "claude"));
    const home = join(root, "home");
    const cfg = join(home, ".claude");
    const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, OPENSRE_HOME: join(root, "osre"), NO_COLOR: "1" };
    for (const k of ["CLAUDE_CONFIG_DIR", "CODEX_HOME", "GEMINI_DIR", "COPILOT_HOME", "OPENSRE_PROC_ROOT"]) delete env[k];
    mkdirSync(join(cfg, "sessions"), { recursive: true });
    const old = new Date(Date.now() - 3 * 24 * 3600_000);
    const w0 = performance.now();
    const projects: Record<"small" | "large", { cwd: string; dir: string }> = { small: { cwd: "", dir: "" }, large: { cwd: "", dir: "" } };
    for (const kind of ["small", "large"] as const) {
      const cwd = join(home, kind);
      const dir = join(cfg, "projects", claudeProjectDir(cwd));
      mkdirSync(cwd, { recursive: true });
      mkdirSync(dir, { recursive: true });
      projects[kind] = { cwd, dir };
      if (kind === "small") continue;
      for (let i = 0; i < n; i++) {
        const f = join(dir, `${sid(i)}.jsonl`);
        writeFileSync(f, line(sid(i), cwd, old.getTime(), `old${i}`));
        utimesSync(f, old, old);
      }
    }
    out(`wrote ${n.toLocaleString("en-US")} old session files into one project folder in ${((performance.now() - w0) / 1000).toFixed(0)} s`);

    const live = sid(0xfffffff);
    const figures: Record<string, Record<string, number>> = {};
    for (const kind of ["small", "large"] as const) {
      const { cwd, dir } = projects[kind];
      const agent = spawn(join(bin, "claude"), ["900"], { cwd, env, stdio: "ignore" });
      kids.push(agent);
      await new Promise((r) => setTimeout(r, 200));
      writeFileSync(join(dir, `${live}.jsonl`), line(live, cwd, Date.now(), `live-${kind}`));
      const record = join(cfg, "sessions", `${agent.pid}.json`);
      const hookInput = JSON.stringify({ tool_name: "Edit", tool_input: { file_path: join(cwd, "x.ts") }, cwd });
      for (const withRecord of [true, false]) {
        if (withRecord) writeFileSync(record, JSON.stringify({ pid: agent.pid, sessionId: live, cwd, startedAt: Date.now(), kind: "interactive" }));
        else unlinkSync(record);
        const key = `${kind}/${withRecord ? "record" : "none"}`;
        const oneShot: number[] = [];
        const hook: number[] = [];
        const before: number[] = [];
        const hookBefore: number[] = [];
        for (let i = 0; i < RUNS; i++) {
          oneShot.push(timed(["agents", "--json"], env, cwd));
          hook.push(timed(["agents", "hook", "claude-pretool"], env, cwd, hookInput));
          if (COMPARE_CLI) {
            before.push(timed(["agents", "--json"], env, cwd, undefined, COMPARE_CLI));
            hookBefore.push(timed(["agents", "hook", "claude-pretool"], env, cwd, hookInput, COMPARE_CLI));
          }
        }
        const collector = new FleetCollector({ home: env.OPENSRE_HOME!, env, firstSampleMs: 0, telemetry: null });
        await collector.refresh();
        const steady: number[] = [];
        let stats = 0;
        for (let i = 0; i < 5; i++) {
          const t0 = performance.now();
          await collector.refresh();
          steady.push(performance.now() - t0);
          stats = Math.max(stats, collector.store.lastRefreshStats);
        }
        figures[key] = { oneShot: median(oneShot), hook: median(hook), steady: median(steady), stats };
        if (COMPARE_CLI) Object.assign(figures[key]!, { oneShotBefore: median(before), hookBefore: median(hookBefore) });
      }
      agent.kill("SIGKILL");
    }
    const row = (label: string, k: "oneShot" | "hook" | "steady" | "oneShotBefore" | "hookBefore") => {
      for (const rec of ["record", "none"]) {
        const s = figures[`small/${rec}`]![k]!;
        const l = figures[`large/${rec}`]![k]!;
        out(`  ${label.padEnd(34)} ${rec === "record" ? "own record " : "no record  "} ${l.toFixed(0).padStart(7)} ms   baseline ${s.toFixed(0).padStart(6)} ms   ${(l / s).toFixed(2)}x`);
      }
    };
    out(`median of ${RUNS} (one-shots) / 5 (live refreshes); ${n.toLocaleString("en-US")} old sessions vs a folder with only the live session (baseline):`);
    row("opensre agents --json (one-shot)", "oneShot");
    row("pre-tool hook (one-shot)", "hook");
    if (COMPARE_CLI) {
      row("--json, compared build", "oneShotBefore");
      row("hook, compared build", "hookBefore");
    }
    row("live refresh, nothing changed", "steady");
    out(`  files stat'ed by a live refresh with nothing changed: ${figures["large/record"]!.stats} (own record), ${figures["large/none"]!.stats} (no record; ${n.toLocaleString("en-US")} in the folder)`);
  } finally {
    for (const k of kids) k.kill("SIGKILL");
    rmSync(root, { recursive: true, force: true });
  }
}
