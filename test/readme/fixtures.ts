/**
 * Fixtures of the README examples: each prepares a fresh temp user for one kind of example
 * (state files, fake agents, transcripts) and says which README literals stand for which
 * real values of the run (`vars`). See docs/readme-examples.md for the convention.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, openSync, closeSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { connect, type AddressInfo } from "node:net";
import { join } from "node:path";
import { registerAgent } from "../../src/fleet/registry.js";
import { claudeProjectDir } from "../../src/fleet/transcripts/match.js";
import { CLI, FIXTURES as TRANSCRIPT_FIXTURES, WAIT_MS } from "../helpers/env.js";

export interface FixtureContext {
  /** The temp dir of this run (removed afterwards). */
  readonly root: string;
  /** `$HOME` of the temp user: `<root>/home/dev`; the tool's home is `~/.config/opensre`. */
  readonly home: string;
  /** Working directory of every command (default: `$HOME`). */
  cwd: string;
  readonly env: NodeJS.ProcessEnv;
  /**
   * README literal → real value: literals in a command are replaced by the real value before
   * it runs, and real values in the output by the literal before comparing (`/home/dev` → `$HOME`
   * is always there; a fake agent's pid is another). Longest match first.
   */
  readonly vars: Map<string, string>;
  /** Stdin for a command, by its README text (default: empty). */
  readonly input: Map<string, string>;
  /** Run at the end of the example, last first (kill fake agents, stop brokers). */
  readonly cleanups: Array<() => void | Promise<void>>;
}

/** A command or shell that is running, for fixtures that act while it runs (publish to a live bus view, …). */
export interface RunHandle {
  /** What it printed so far. */
  output(): string;
  /** Resolves when the output contains `text` (or the command ended). */
  waitFor(text: string, timeoutMs?: number): Promise<void>;
  /** The command as the README writes it (`opensre` for the interactive shell). */
  readonly command: string;
}

export interface Fixture {
  /** One line: what the temp user has. */
  readonly summary: string;
  setup(fx: FixtureContext): Promise<void> | void;
  /** Runs alongside each command of the example (or the interactive shell), right after it starts. */
  during?(fx: FixtureContext, run: RunHandle): Promise<void> | void;
  /** Extra normalisation for what varies in this example only: `[pattern, placeholder]`. */
  readonly normalise?: ReadonlyArray<[RegExp, string]>;
}

/**
 * Spawn a process for an example and kill it at the end; its pid is the README's `literal`. The
 * tool's view of the process table (`OPENSRE_PROC_ROOT`, a filtered link to /proc) shows it.
 */
export function keep(fx: FixtureContext, child: ChildProcess, literal?: string): ChildProcess {
  fx.cleanups.push(() => void child.kill("SIGKILL"));
  if (literal !== undefined) fx.vars.set(literal, String(child.pid));
  const view = fx.env.OPENSRE_PROC_ROOT;
  if (view && child.pid !== undefined) symlinkSync(`/proc/${child.pid}`, join(view, String(child.pid)));
  return child;
}

/** The tool's home of the temp user (`~/.config/opensre` under the temp `HOME`, never this process's home). */
export function toolHome(fx: FixtureContext): string {
  return fx.env.OPENSRE_HOME || join(fx.home, ".config", "opensre");
}

/** A process that just sleeps, registered under `name`; its pid is the README's `literal`. */
export async function registered(fx: FixtureContext, name: string, literal: string, cwd = fx.home, args: string[] = ["/bin/sleep", "300"]): Promise<ChildProcess> {
  const child = keep(fx, spawn(args[0]!, args.slice(1), { cwd, stdio: "ignore" }), literal);
  await registerAgent(toolHome(fx), { pid: child.pid!, name });
  return child;
}

/** Run the CLI of this build in the temp user during setup (state made the way a user makes it). */
export function opensre(fx: FixtureContext, ...args: string[]): string {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: fx.cwd, env: fx.env, encoding: "utf8", timeout: 120_000 });
  if (r.status !== 0) throw new Error(`opensre ${args.join(" ")} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

/** A folder of the temp user that is a git repository (`~/shop`). */
export function repo(fx: FixtureContext, name = "shop"): string {
  const dir = join(fx.home, name);
  mkdirSync(join(dir, ".git"), { recursive: true });
  writeFileSync(join(dir, ".git", "HEAD"), "ref: refs/heads/main\n");
  mkdirSync(join(dir, "services"), { recursive: true });
  return dir;
}

export interface ClaudeAgent {
  /** README literal of its pid. */
  literal: string;
  /** Working directory (its session's project folder is named after it). */
  cwd: string;
  sessionId: string;
  /** `waiting`: the last turn ended; `working`: a turn is in progress. */
  state: "waiting" | "working";
  /** Registered under this name (else discovered). */
  name?: string;
  /** Its stdout goes to this file (with this text in it), as with `claude > ~/agent.log`. */
  stdout?: { path: string; text: string };
  /** Files it edited (Edit tool calls confirmed by their results), `secondsAgo` before now. */
  edits?: Array<{ path: string; secondsAgo: number }>;
}

/**
 * A Claude Code agent as the tool sees one: a process whose executable is named `claude`
 * (`~/.local/bin/claude`, a copy of /bin/sleep) in `cwd`, Claude's own record of the process
 * (`~/.claude/sessions/<pid>.json`) and its session transcript, timed relative to now so the
 * rates of the last 5 minutes are the same in every run.
 */
export async function claudeAgent(fx: FixtureContext, a: ClaudeAgent): Promise<ChildProcess> {
  const bin = join(fx.home, ".local", "bin", "claude");
  if (!existsSync(bin)) {
    mkdirSync(join(fx.home, ".local", "bin"), { recursive: true });
    copyFileSync("/bin/sleep", bin);
  }
  let out: number | "ignore" = "ignore";
  if (a.stdout) {
    writeFileSync(a.stdout.path, a.stdout.text);
    out = openSync(a.stdout.path, "a");
  }
  const child = keep(fx, spawn(bin, ["3000"], { cwd: a.cwd, env: fx.env, stdio: ["ignore", out, "ignore"] }), a.literal);
  if (typeof out === "number") closeSync(out);
  if (a.name) await registerAgent(toolHome(fx), { pid: child.pid!, name: a.name });
  const claude = join(fx.home, ".claude");
  mkdirSync(join(claude, "sessions"), { recursive: true });
  writeFileSync(join(claude, "sessions", `${child.pid}.json`), JSON.stringify({ pid: child.pid, sessionId: a.sessionId, cwd: a.cwd, startedAt: Date.now() }));
  const project = join(claude, "projects", claudeProjectDir(a.cwd));
  // Claude names a project folder after its path: the README shows it as the user `dev` sees it
  fx.vars.set(claudeProjectDir("/home/dev"), claudeProjectDir(fx.home));
  mkdirSync(project, { recursive: true });
  writeFileSync(join(project, `${a.sessionId}.jsonl`), claudeTranscript(a).map((l) => JSON.stringify(l)).join("\n") + "\n");
  return child;
}

/** A turn of Claude Code 2.x: prompt, tool calls with their results, an answer (and its end, when waiting). */
function claudeTranscript(a: ClaudeAgent): object[] {
  const now = Date.now();
  const ts = (secondsAgo: number) => new Date(now - secondsAgo * 1000).toISOString();
  const base = { cwd: a.cwd, sessionId: a.sessionId, version: "2.1.197", userType: "external", isSidechain: false };
  const usage = { input_tokens: 8, output_tokens: 1_200, cache_read_input_tokens: 40_000, cache_creation_input_tokens: 12_000 };
  const model = "claude-sonnet-4-5-20250929";
  const lines: object[] = [{ ...base, type: "user", timestamp: ts(90), message: { role: "user", content: "now the login test" } }];
  let n = 0;
  const edits = a.edits ?? [];
  const start = Math.max(80, ...edits.map((e) => e.secondsAgo + 1));
  lines.push({ ...base, type: "assistant", timestamp: ts(start), requestId: `req_${a.literal}_${n}`, message: { id: `msg_${a.literal}_${n++}`, model, role: "assistant", type: "message", content: [{ type: "tool_use", id: `toolu_${a.literal}_b`, name: "Bash", input: { command: "npm test -- auth" } }], stop_reason: "tool_use", usage } });
  lines.push({ ...base, type: "user", timestamp: ts(start - 0.5), message: { role: "user", content: [{ type: "tool_result", tool_use_id: `toolu_${a.literal}_b`, content: "1 failing: login keeps a stale token" }] } });
  for (const [k, e] of edits.entries()) {
    const id = `toolu_${a.literal}_e${k}`;
    lines.push({ ...base, type: "assistant", timestamp: ts(e.secondsAgo), requestId: `req_${a.literal}_${n}`, message: { id: `msg_${a.literal}_${n++}`, model, role: "assistant", type: "message", content: [{ type: "tool_use", id, name: "Edit", input: { file_path: e.path, old_string: "now()", new_string: "clock()" } }], stop_reason: "tool_use", usage } });
    lines.push({ ...base, type: "user", timestamp: ts(e.secondsAgo - 0.2), message: { role: "user", content: [{ type: "tool_result", tool_use_id: id, content: "The file has been updated." }] }, toolUseResult: { filePath: e.path } });
  }
  if (a.state === "waiting") {
    lines.push({ ...base, type: "assistant", timestamp: ts(20), requestId: `req_${a.literal}_${n}`, message: { id: `msg_${a.literal}_${n++}`, model, role: "assistant", type: "message", content: [{ type: "text", text: "The test races on the token cache; pinning the clock." }], stop_reason: "end_turn", usage } });
  } else {
    lines.push({ ...base, type: "assistant", timestamp: ts(2), requestId: `req_${a.literal}_${n}`, message: { id: `msg_${a.literal}_${n++}`, model, role: "assistant", type: "message", content: [{ type: "text", text: "Pinning the clock in the token cache test." }], stop_reason: "tool_use", usage } });
  }
  return lines;
}

/** The ids of the incidents in the temp user's store, oldest first. */
export function incidentIds(fx: FixtureContext): string[] {
  const path = join(toolHome(fx), "incidents.jsonl");
  if (!existsSync(path)) return [];
  const ids: string[] = [];
  for (const line of readFileSync(path, "utf8").split("\n")) {
    const m = /"id":"([0-9a-f]+)"/.exec(line);
    if (m && !ids.includes(m[1]!)) ids.push(m[1]!);
  }
  return ids;
}

/** A free loopback port (bound and released), for a README literal such as `4318`. */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

/**
 * The transcript fixtures (test/fixtures: a Claude Code, a Codex and a Gemini session of
 * 2026-11-20, 10:00–10:11 UTC) copied into the agents' default folders of the temp user, moved
 * to five days ago so the README's figures stay inside every window (the 14 days of minutes,
 * a 28-day objective); the README's `2026-11-20` stands for that day (and `2026-11-21` for the next).
 */
function pastSessions(fx: FixtureContext): void {
  const now = Date.now();
  const day = new Date(now - 5 * 86_400_000).toISOString().slice(0, 10);
  const move = (s: string) => s.replaceAll("2026-11-20", day).replaceAll("2026/11/20", day.replaceAll("-", "/"));
  const copy = (from: string, to: string) => {
    for (const e of readdirSync(from, { withFileTypes: true })) {
      const src = join(from, e.name);
      const dst = move(join(to, e.name));
      if (e.isDirectory()) copy(src, dst);
      else {
        mkdirSync(join(dst, ".."), { recursive: true });
        writeFileSync(dst, move(readFileSync(src, "utf8")));
      }
    }
  };
  copy(join(TRANSCRIPT_FIXTURES, "claude-code"), join(fx.home, ".claude"));
  copy(join(TRANSCRIPT_FIXTURES, "codex", "sessions", "2026", "11", "20"), join(fx.home, ".codex", "sessions", "2026", "11", "20"));
  copy(join(TRANSCRIPT_FIXTURES, "gemini"), join(fx.home, ".gemini"));
  fx.vars.set("2026-11-20", day);
  // and the day after it, where a range given as `--until 2026-11-20` ends
  fx.vars.set("2026-11-21", new Date(now - 4 * 86_400_000).toISOString().slice(0, 10));
}

const SESSION_A = "5f0c2a9e-8d1b-4c3a-9e7f-1a2b3c4d5e6f";
const SESSION_B = "11111111-2222-4333-8444-555555555555";

export const FIXTURES: Record<string, Fixture> = {
  empty: {
    summary: "a new user: no state, no agents",
    setup: () => undefined,
  },
  "trace-refusals": {
    summary: "a process (README pid 17326) whose stdout is a socket; pid 999999 does not exist",
    setup(fx) {
      keep(fx, spawn("/bin/sleep", ["300"], { stdio: ["ignore", "pipe", "ignore"] }), "17326");
    },
  },
  "registered-pair": {
    summary: "two registered agents, alpha (README pid 9922) and beta (9923), working in the git repository ~/shop",
    async setup(fx) {
      const shop = join(fx.home, "shop");
      mkdirSync(join(shop, ".git"), { recursive: true });
      await registered(fx, "alpha", "9922", shop);
      await registered(fx, "beta", "9923", shop);
    },
  },
  "bus-view": {
    summary: "a live `agents bus` view that two agents publish to (raw frames on the socket), then a frame that is not an object",
    setup: () => undefined,
    async during(fx, run) {
      await run.waitFor("tailing /agents bus");
      const sock = connect(join(toolHome(fx), "agents-bus.sock"));
      sock.on("error", () => undefined);
      fx.cleanups.push(() => void sock.destroy());
      const send = async (frame: string, shows: string) => {
        sock.write(frame + "\n");
        await run.waitFor(shows);
      };
      await send('{"agent":"claude-code:8421","topic":"finding","summary":"null deref on missing token","path":"services/auth.py:42"}', "null deref");
      await send('{"agent":"cursor:9133","topic":"finding","summary":"confirmed, repro on commit abc123","data":{"commit":"abc123"}}', "confirmed");
      await send("[1,2,3]", "warning:");
    },
  },
  kill: {
    summary: "auth-fixer (README pid 5864), registered, exits on SIGTERM; pid 7311 ignores SIGTERM",
    async setup(fx) {
      await registered(fx, "auth-fixer", "5864");
      const stubborn = keep(fx, spawn("/bin/sh", ["-c", "trap '' TERM; echo ready; while :; do sleep 1; done"], { stdio: ["ignore", "pipe", "ignore"] }), "7311");
      await new Promise((r) => stubborn.stdout!.once("data", r));
    },
  },
  fleet: {
    summary:
      "claude-code (README pid 6157, discovered, in ~/shop, a turn in progress, stdout to ~/agent.log) over its $0.10/h budget with an open cost incident (README id 07745542); auth-fixer (5864, registered, in ~/shop, waiting for its next prompt)",
    async setup(fx) {
      const shop = repo(fx);
      await claudeAgent(fx, { literal: "6157", cwd: shop, sessionId: SESSION_A, state: "working", stdout: { path: join(fx.home, "agent.log"), text: "[build] compiling auth module\n" } });
      await claudeAgent(fx, { literal: "5864", cwd: shop, sessionId: SESSION_B, state: "waiting", name: "auth-fixer" });
      opensre(fx, "agents", "budget", "claude-code", "0.10");
      const watched = opensre(fx, "agents", "watch", "--once");
      const [id] = incidentIds(fx);
      if (!id) throw new Error(`the watchdog opened no incident: ${watched}`);
      fx.vars.set("07745542", id);
      fx.vars.set("0774", id.slice(0, 4));
    },
    normalise: [
      // the live view's clock (the time of its last refresh, at the end of its header) and the times of tool calls
      [/\b\d\d:\d\d:\d\d$/g, "<clock>"],
      [/^ {2}\d\d:\d\d:\d\d {2}/g, "  <clock>  "],
      // the details' 30-minute sparklines: which wall-clock minute the requests of the last 90 s fall in
      [/[▁▂▃▄▅▆▇█]{30}/g, "<sparkline>"],
    ],
  },
  web: {
    summary: "a free loopback port for README 7464; the dashboard's token is random",
    async setup(fx) {
      fx.vars.set("7464", String(await freePort()));
    },
    normalise: [[/\?token=[0-9A-Za-z_-]+/g, "?token=<token>"]],
  },
  history: {
    summary: "no agent running; transcripts of three past sessions (Claude Code, Codex, Gemini CLI) of README day 2026-11-20, 10:00–10:11 UTC",
    setup: pastSessions,
    normalise: [
      // a report's end is now; the store's size varies with SQLite's page use
      [/^all history to \d{4}-\d\d-\d\d \d\d:\d\d \(local time\)/g, "all history to <now> (local time)"],
      [/^size {2,}\d+(\.\d+)? [KMG]?B\b/g, "size  <size>"],
    ],
  },
  "one-claude": {
    summary: "a Claude Code process (README pid 5864) in ~, not registered, waiting for its next prompt",
    async setup(fx) {
      await claudeAgent(fx, { literal: "5864", cwd: fx.home, sessionId: SESSION_A, state: "waiting" });
    },
  },
  watchdog: {
    summary: "claude-code (README pid 6157, discovered) over its $0.10/h budget; it exits once the watchdog opened an incident",
    async setup(fx) {
      const agent = await claudeAgent(fx, { literal: "6157", cwd: repo(fx), sessionId: SESSION_A, state: "working" });
      opensre(fx, "agents", "budget", "claude-code", "0.10");
      agents.set(fx, agent);
    },
    async during(fx, run) {
      if (!run.command.startsWith("opensre agents watch")) return;
      await run.waitFor(" opened: ", WAIT_MS);
      agents.get(fx)?.kill("SIGKILL");
      // the notify command of the resolve has run before the README's Ctrl+C
      await run.waitFor(" resolved ", WAIT_MS);
      const log = join(fx.home, "incidents.jsonl");
      for (let i = 0; i < 500 && !(existsSync(log) && readFileSync(log, "utf8").split("\n").length > 2); i++) await new Promise((r) => setTimeout(r, 20));
    },
    normalise: [[/\bincident [0-9a-f]{8}\b/g, "incident <id>"]],
  },
  conflicts: {
    summary: "claude-code (README pid 14520, discovered) and auth-fixer (14521, registered) both edited ~/shop/services/auth.py, 40 s and 35 s ago, on branch main",
    async setup(fx) {
      const shop = repo(fx);
      const file = join(shop, "services", "auth.py");
      writeFileSync(file, "def login(): ...\n");
      await claudeAgent(fx, { literal: "14520", cwd: shop, sessionId: SESSION_A, state: "working", edits: [{ path: file, secondsAgo: 40 }] });
      await claudeAgent(fx, { literal: "14521", cwd: shop, sessionId: SESSION_B, state: "working", name: "auth-fixer", edits: [{ path: file, secondsAgo: 35 }] });
    },
    normalise: [[/\bincident [0-9a-f]{8}\b/g, "incident <id>"]],
  },
  "trace-file": {
    summary: "claude-code (README pid 8421, registered) with its stdout in ~/agent.log; two lines are written once the trace is attached",
    async setup(fx) {
      const log = join(fx.home, "agent.log");
      writeFileSync(log, "tick 40\n");
      const fd = openSync(log, "a");
      const child = keep(fx, spawn("/bin/sleep", ["3000"], { stdio: ["ignore", fd, "ignore"] }), "8421");
      closeSync(fd);
      await registerAgent(toolHome(fx), { pid: child.pid!, name: "claude-code" });
    },
    async during(fx, run) {
      await run.waitFor("Ctrl+C to stop");
      await new Promise((r) => setTimeout(r, 300));
      writeFileSync(join(fx.home, "agent.log"), "tick 41\ntick 42\n", { flag: "a" });
    },
  },
  telemetry: {
    summary: "free loopback ports for README 4318 (OTLP in) and 9464 (/metrics); http://otel.example:4318 is a local sink that accepts every push",
    async setup(fx) {
      const sink = createServer((req, res) => {
        req.resume();
        req.on("end", () => res.writeHead(200, { "content-type": req.headers["content-type"] ?? "application/json" }).end());
      });
      await new Promise<void>((r) => sink.listen(0, "127.0.0.1", r));
      fx.cleanups.push(() => new Promise<void>((r) => sink.close(() => r())));
      fx.vars.set("http://otel.example:4318", `http://127.0.0.1:${(sink.address() as AddressInfo).port}`);
      fx.vars.set("4318", String(await freePort()));
      fx.vars.set("9464", String(await freePort()));
    },
  },
  "alert-rules": {
    summary: "claude-code has a $5/h budget; README /etc/prometheus/rules is a folder of the temp user",
    setup(fx) {
      opensre(fx, "agents", "budget", "claude-code", "5");
      const rules = join(fx.root, "etc", "prometheus", "rules");
      mkdirSync(rules, { recursive: true });
      fx.vars.set("/etc/prometheus/rules", rules);
    },
  },
};

/** The agent a fixture stops while its example runs. */
const agents = new WeakMap<FixtureContext, ChildProcess>();
