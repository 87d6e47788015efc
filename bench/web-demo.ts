import { spawn, type ChildProcess } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { claudeProjectDir } from "../src/fleet/transcripts/match.js";
import { registerAgent } from "../src/fleet/registry.js";
import { updateAgentSettings } from "../src/slo/config.js";
import { openEvent, resolveEvent, withIncidents, type Incident } from "../src/slo/incidents.js";

/**
 * A fleet to look at: fake Claude Code agents (copies of `sleep` named `claude`, each in its own
 * folder, with a session transcript of the last hour: prompts, responses, a few API errors,
 * turn durations, file edits), registered under readable names, SLOs for some, incidents and a
 * write conflict. Used by the dashboard's benchmark (50 agents) and for its README screenshot.
 */

const NAMES = ["auth-fixer", "docs-writer", "test-runner", "migrations", "ui-polish", "perf-hunter", "api-review", "deps-bump"];
const MINUTE = 60_000;

export interface DemoFleet {
  root: string;
  home: string;
  env: NodeJS.ProcessEnv;
  agents: { pid: number; name: string; cwd: string }[];
  close(): void;
}

/** A small deterministic generator, so the screenshot is the same every time. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
}

function transcript(cwd: string, session: string, now: number, seed: number, opts: { busy: number; errors: number; edits: string[] }): string {
  const r = rng(seed);
  const base = { cwd, sessionId: session, version: "2.1.0" };
  const lines: unknown[] = [];
  let t = now - 60 * MINUTE + r() * MINUTE;
  let n = 0;
  while (t < now - 5_000) {
    const turnStart = t;
    lines.push({ ...base, type: "user", timestamp: new Date(t).toISOString(), message: { role: "user", content: "next step" } });
    const requests = 1 + Math.floor(r() * 4);
    for (let i = 0; i < requests && t < now - 5_000; i++) {
      t += 2_000 + r() * 12_000;
      n++;
      if (r() < opts.errors) {
        lines.push({ ...base, type: "assistant", timestamp: new Date(t).toISOString(), isApiErrorMessage: true, message: { id: `err_${seed}_${n}`, model: "<synthetic>", role: "assistant", content: [{ type: "text", text: "API Error: 529 overloaded" }], usage: { input_tokens: 0, output_tokens: 0 } } });
        continue;
      }
      const phase = Math.sin((t / MINUTE + seed) / 9) + 1.2;
      const input = Math.round((800 + r() * 4000) * phase * opts.busy);
      const output = Math.round((200 + r() * 1500) * phase * opts.busy);
      lines.push({ ...base, type: "assistant", timestamp: new Date(t).toISOString(), requestId: `req_${seed}_${n}`, message: { id: `msg_${seed}_${n}`, model: "claude-sonnet-4-5-20250929", role: "assistant", content: [{ type: "text", text: "working on it" }], stop_reason: "tool_use", usage: { input_tokens: input, output_tokens: output, cache_read_input_tokens: input * 4 } } });
    }
    t += 1_000;
    lines.push({ ...base, type: "system", subtype: "turn_duration", timestamp: new Date(t).toISOString(), durationMs: t - turnStart });
    t += (20_000 + r() * 80_000) / opts.busy;
  }
  // the edits last, within seconds of each other across agents: a conflict
  for (const [i, path] of opts.edits.entries()) {
    const at = now - 20_000 + i * 1000;
    const id = `toolu_${seed}_${i}`;
    lines.push({ ...base, type: "assistant", timestamp: new Date(at).toISOString(), requestId: `req_${seed}_e${i}`, message: { id: `msg_${seed}_e${i}`, model: "claude-sonnet-4-5-20250929", role: "assistant", content: [{ type: "tool_use", id, name: "Edit", input: { file_path: path } }], stop_reason: "tool_use", usage: { input_tokens: 900, output_tokens: 120 } } });
    lines.push({ ...base, type: "user", timestamp: new Date(at + 300).toISOString(), toolUseResult: { filePath: path }, message: { role: "user", content: [{ type: "tool_result", tool_use_id: id, content: "ok" }] } });
  }
  return lines.map((l) => JSON.stringify(l)).join("\n") + "\n";
}

export async function demoFleet(count: number, opts: { slos?: boolean; incidents?: boolean } = {}): Promise<DemoFleet> {
  const root = realpathSync(mkdtempSync(join(tmpdir(), "osre-demo-")));
  const home = join(root, "home");
  const env: NodeJS.ProcessEnv = { ...process.env, OPENSRE_HOME: home, HOME: join(root, "user"), CLAUDE_CONFIG_DIR: join(root, "claude"), CODEX_HOME: join(root, "codex"), NO_COLOR: "1" };
  const bin = join(root, "bin");
  mkdirSync(bin, { recursive: true });
  copyFileSync("/bin/sleep", join(bin, "claude"));
  const kids: ChildProcess[] = [];
  const agents: DemoFleet["agents"] = [];
  const now = Date.now();
  const shared = join(root, "work", "shop", "src", "auth", "session.ts");
  for (let i = 0; i < count; i++) {
    const name = count <= NAMES.length ? NAMES[i]! : `${NAMES[i % NAMES.length]}-${Math.floor(i / NAMES.length) + 1}`;
    const cwd = join(root, "work", i < 2 ? "shop" : name);
    mkdirSync(cwd, { recursive: true });
    const kid = spawn(join(bin, "claude"), ["3600"], { cwd, stdio: "ignore", env });
    kids.push(kid);
    await registerAgent(home, { pid: kid.pid!, name, provider: "claude-code" });
    const session = `${String(i).padStart(8, "0")}-1111-4222-8333-444444444444`;
    const project = join(env.CLAUDE_CONFIG_DIR!, "projects", claudeProjectDir(cwd));
    mkdirSync(project, { recursive: true });
    const busy = [1.6, 0.9, 0.4, 1.1, 0.25, 0.7, 0.5, 0.15][i % 8]!;
    // Claude Code's own record of the live process: how a resumed session (older than its process) is mapped
    mkdirSync(join(env.CLAUDE_CONFIG_DIR!, "sessions"), { recursive: true });
    writeFileSync(join(env.CLAUDE_CONFIG_DIR!, "sessions", `${kid.pid}.json`), JSON.stringify({ pid: kid.pid, sessionId: session, cwd, startedAt: Date.now() }));
    writeFileSync(join(project, `${session}.jsonl`), transcript(cwd, session, now, i + 1, { busy, errors: i === 2 ? 0.25 : 0.03, edits: i < 2 ? [shared] : [] }));
    agents.push({ pid: kid.pid!, name, cwd });
  }
  if (opts.slos) {
    await updateAgentSettings(home, agents[0]!.name, { hourly_budget_usd: 5, progress_minutes: 10 });
    if (agents[1]) await updateAgentSettings(home, agents[1].name, { hourly_budget_usd: 2 });
    if (agents[2]) await updateAgentSettings(home, agents[2].name, { error_rate_pct: 10 });
  }
  if (opts.incidents && agents.length >= 3) {
    const inc = (id: string, a: (typeof agents)[number], slo: Incident["slo"], detail: string, openedAgo: number): Incident => ({
      id,
      agent: a.name,
      pid: a.pid,
      start_time: null,
      provider: "claude-code",
      slo,
      detail,
      opened_at: new Date(now - openedAgo).toISOString(),
      acked_at: null,
      resolved_at: null,
      resolution: null,
      kills: [],
      evidence: { source: null, output: "", resources: { uptimeSec: 3600, cpuPct: 0.4, rssBytes: 180 << 20, children: 2 }, signals: { status: "active", lastOutputAt: null, tokensPerMin: 9000, usdPerHour: 6.1, spendLastHourUsd: 5.4, errorRatePct: 21, model: "claude-sonnet-4-5-20250929" } },
    });
    await withIncidents(home, () => ({
      result: undefined,
      events: [
        openEvent(inc("3f9a1c07", agents[2]!, "errors", "21.4% error rate (threshold: 10.0%)", 25 * MINUTE)),
        openEvent(inc("b41e88d2", agents[0]!, "cost", "$6.12/h projected, $5.40 spent in the last hour (budget: $5.00/h)", 5 * 60 * MINUTE)),
        resolveEvent("b41e88d2", new Date(now - 3 * 60 * MINUTE), "recovered"),
      ],
    }));
  }
  return {
    root,
    home,
    env,
    agents,
    close() {
      for (const k of kids) k.kill("SIGKILL");
      rmSync(root, { recursive: true, force: true });
    },
  };
}
