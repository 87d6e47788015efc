import { spawn, type ChildProcess } from "node:child_process";
import { appendFileSync, copyFileSync, mkdirSync, openSync, closeSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { claudeProjectDir } from "../../src/fleet/transcripts/match.js";
import { registerAgent } from "../../src/fleet/registry.js";
import { openEvent, withIncidents, type Incident } from "../../src/slo/incidents.js";
import { isolatedEnv, tempDir } from "../helpers/env.js";

/**
 * A small fleet of real child processes for the live-view tests, all named with a prefix
 * unique to this run so a filter finds them among whatever else runs on the machine:
 * - `<tag>-alpha`: a Claude Code stand-in (an executable named `claude`) with a session transcript;
 * - `<tag>-beta`: a shell loop whose stdout is a regular file (`tick N` every 100 ms);
 * - `<tag>-gamma`: a plain process to kill.
 */
export interface Fleet {
  dir: string;
  env: NodeJS.ProcessEnv;
  home: string;
  tag: string;
  alpha: ChildProcess;
  beta: ChildProcess;
  gamma: ChildProcess;
  transcript: string;
  stdoutFile: string;
  shop: string;
  /** Append one Claude transcript record. */
  claude(o: object): void;
  cleanup(): Promise<void>;
}

export async function makeFleet(extraEnv: Record<string, string> = {}): Promise<Fleet> {
  const d = tempDir();
  const tag = `tui${process.pid % 10000}x${Math.floor(Math.random() * 1000)}`;
  const bin = join(d.path, "bin");
  const shop = join(d.path, "work", tag);
  mkdirSync(bin);
  mkdirSync(shop, { recursive: true });
  copyFileSync("/bin/sleep", join(bin, "claude"));
  const env = isolatedEnv(join(d.path, "home"), extraEnv);
  const home = env.OPENSRE_HOME!;
  const kids: ChildProcess[] = [];
  const alpha = spawn(join(bin, "claude"), ["600"], { cwd: shop, stdio: "ignore" });
  kids.push(alpha);
  const stdoutFile = join(d.path, "beta.log");
  const fd = openSync(stdoutFile, "a");
  const beta = spawn("/bin/sh", ["-c", "i=0; while :; do i=$((i+1)); echo \"tick $i\"; sleep 0.1; done"], { stdio: ["ignore", fd, fd] });
  closeSync(fd);
  kids.push(beta);
  const gamma = spawn("/bin/sleep", ["600"], { stdio: "ignore" });
  kids.push(gamma);
  await registerAgent(home, { pid: alpha.pid!, name: `${tag}-alpha`, provider: "claude-code" });
  await registerAgent(home, { pid: beta.pid!, name: `${tag}-beta` });
  await registerAgent(home, { pid: gamma.pid!, name: `${tag}-gamma` });
  const project = join(env.CLAUDE_CONFIG_DIR!, "projects", claudeProjectDir(shop));
  mkdirSync(project, { recursive: true });
  const sid = "33333333-2222-4333-8444-555555555555";
  const transcript = join(project, `${sid}.jsonl`);
  const claude = (o: object) => appendFileSync(transcript, JSON.stringify({ cwd: shop, sessionId: sid, timestamp: new Date().toISOString(), ...o }) + "\n");
  writeFileSync(transcript, "");
  claude({ type: "user", message: { role: "user", content: "fix the auth bug" } });
  claude({
    type: "assistant",
    requestId: "r1",
    message: { id: "m1", model: "claude-sonnet-4-5-20250929", role: "assistant", content: [{ type: "tool_use", id: "tu1", name: "Edit", input: { file_path: join(shop, "auth.py") } }], stop_reason: "tool_use", usage: { input_tokens: 120000, output_tokens: 3000 } },
  });
  return {
    dir: d.path,
    env,
    home,
    tag,
    alpha,
    beta,
    gamma,
    transcript,
    stdoutFile,
    shop,
    claude,
    cleanup: () => {
      for (const k of kids) k.kill("SIGKILL");
      return d.cleanup();
    },
  };
}

/** An open incident on `pid`, written as the watchdog writes it. */
export async function openIncident(home: string, pid: number, agent: string, detail: string, output = "last words\n"): Promise<string> {
  const id = Math.random().toString(16).slice(2, 10).padEnd(8, "0");
  const incident: Incident = {
    id,
    agent,
    pid,
    start_time: null,
    provider: "unknown",
    slo: "progress",
    detail,
    opened_at: new Date().toISOString(),
    acked_at: null,
    resolved_at: null,
    resolution: null,
    kills: [],
    evidence: {
      source: "/tmp/evidence.log",
      output,
      resources: { uptimeSec: 10, cpuPct: 0, rssBytes: 1024 * 1024, children: 0 },
      signals: { status: "stuck", lastOutputAt: null, tokensPerMin: null, usdPerHour: null, spendLastHourUsd: null, errorRatePct: null, model: null },
    },
  };
  await withIncidents(home, () => ({ result: undefined, events: [openEvent(incident)] }));
  return id;
}
