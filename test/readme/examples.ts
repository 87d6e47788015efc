/**
 * The README example checker: runs every README example marked `<!-- check: FIXTURE -->`
 * in a fresh temp home set up by that fixture, and compares what the tool really prints
 * with what the README shows. The convention is documented in docs/readme-examples.md.
 */
import { spawn } from "node:child_process";
import { chmodSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { CLI, REPO_ROOT, tempDir, WAIT_MS } from "../helpers/env.js";
import { plain } from "../helpers/pty.js";
import { ScreenSession } from "../helpers/screen.js";
import { FIXTURES, type Fixture, type FixtureContext, type RunHandle } from "./fixtures.js";

const require = createRequire(import.meta.url);

/** The README checked (`README_PATH` points the checker at another copy, e.g. a draft). */
export const README = process.env.README_PATH || join(REPO_ROOT, "README.md");

/** How long one example command may run before it is killed (live views are interrupted well before). */
export const COMMAND_TIMEOUT_MS = WAIT_MS;
/** Quiet time after the expected output before a `^C` is sent or a shell line typed. */
const SETTLE_MS = 150;

export interface Example {
  /** 1-based line of the opening fence in README.md. */
  line: number;
  fixture: string;
  /** The lines between the fences. */
  body: string[];
  /** Index of the first and last body line in the README's lines. */
  start: number;
  end: number;
}

const MARK = /^<!--\s*check:\s*([a-z0-9-]+)\s*-->\s*$/;

/** Every checked example of `text`, in order. A mark must sit on the line right before a fence. */
export function parseExamples(text: string): Example[] {
  const lines = text.split("\n");
  const out: Example[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = MARK.exec(lines[i]!);
    if (!m) continue;
    if (!/^```/.test(lines[i + 1] ?? "")) throw new Error(`README.md:${i + 1}: a check mark must be followed by a fenced block`);
    let j = i + 2;
    while (j < lines.length && !/^```\s*$/.test(lines[j]!)) j++;
    if (j >= lines.length) throw new Error(`README.md:${i + 2}: unclosed fenced block`);
    out.push({ line: i + 2, fixture: m[1]!, body: lines.slice(i + 2, j), start: i + 2, end: j - 1 });
  }
  return out;
}

/** One step of an example: a shell command with what it prints, or a line typed into the interactive shell. */
interface Step {
  kind: "command" | "input";
  text: string;
  /** Expected lines after this step (until the next step). `^C` marks an interrupt. */
  expect: string[];
}

function steps(body: string[]): { steps: Step[]; interactive: boolean } {
  const out: Step[] = [];
  let interactive = false;
  for (const line of body) {
    if (line.startsWith("$ ")) {
      out.push({ kind: "command", text: line.slice(2), expect: [] });
      if (line.slice(2).trim() === "opensre") interactive = true;
    } else if (interactive && (line.startsWith("> ") || line === ">")) {
      out.push({ kind: "input", text: line.slice(2), expect: [] });
    } else {
      if (out.length === 0) throw new Error(`example output before any \`$ \` command: ${line}`);
      out[out.length - 1]!.expect.push(line);
    }
  }
  return { steps: out, interactive };
}

// ---------------------------------------------------------------------------------------
// Normalisation: what legitimately varies between runs becomes a placeholder on both sides.

const VOLATILE: Array<[RegExp, string]> = [
  [/\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/g, "<uuid>"],
  [/\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z\b/g, "<time>"],
  [/\b\d\d:\d\d:\d\d UTC\b/g, "<time> UTC"],
  [/\b(?:\d+[hm])*\d+(?:\.\d+)?(?:ms|s|m|h|d)(?: ago)?\b/g, "<dur>"], // 37s ago, 1m00s ago, 1h12m: one duration
  [/\b(\d+m)?\d+s\b/g, "<dur>"],
  [/\b\d+(\.\d+)?[KMG]\b/g, "<size>"],
];

/** The normalised form of one line: volatile values as placeholders, column padding collapsed. */
export function normaliseLine(line: string, extra: ReadonlyArray<[RegExp, string]> = []): string {
  let s = line.replace(/\^C/g, "");
  for (const [re, to] of [...extra, ...VOLATILE]) s = s.replace(re, to);
  return s.replace(/ {2,}/g, "  ").replace(/\s+$/, "");
}

/**
 * Every `from` of `pairs` in `text` replaced by its `to`, all in one pass (so a replacement is never replaced again:
 * README day 2026-11-20 → 2026-11-21 and 2026-11-21 → 2026-11-22 do not chain), the longest first where two
 * overlap. A number (a pid, a port) is replaced only where it stands alone: pid 20250 is not the middle of the model
 * name claude-sonnet-4-5-20250929.
 */
function replaceEach(text: string, pairs: ReadonlyArray<readonly [string, string]>): string {
  const map = new Map(pairs.filter(([from]) => from !== ""));
  if (map.size === 0) return text;
  const escape = (v: string) => v.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const alternatives = [...map.keys()]
    .sort((a, b) => b.length - a.length)
    .map((from) => (/^\d+$/.test(from) ? `(?<!\\d)${from}(?!\\d)` : escape(from)));
  return text.replace(new RegExp(alternatives.join("|"), "g"), (m) => map.get(m) ?? m);
}

/** Replace every actual value by the README's literal for it (longest first, so paths nest). */
export function toReadme(text: string, vars: ReadonlyMap<string, string>): string {
  return replaceEach(text, [...vars].filter(([, actual]) => actual !== "").map(([literal, actual]) => [actual, literal] as const));
}

/** Replace the README's literals in a command by the fixture's actual values. */
export function fromReadme(text: string, vars: ReadonlyMap<string, string>): string {
  return replaceEach(text, [...vars]);
}

/** Lines match, where an expected `…` line stands for any number of lines. */
export function linesMatch(expected: string[], actual: string[]): boolean {
  const memo = new Map<string, boolean>();
  const go = (i: number, j: number): boolean => {
    const key = `${i},${j}`;
    const hit = memo.get(key);
    if (hit !== undefined) return hit;
    let r: boolean;
    if (i === expected.length) r = j === actual.length;
    else if (expected[i] === "…") r = go(i + 1, j) || (j < actual.length && go(i, j + 1));
    else r = j < actual.length && expected[i] === actual[j] && go(i + 1, j + 1);
    memo.set(key, r);
    return r;
  };
  return go(0, 0);
}

/** Pad the cells of aligned tables again after a substitution changed a value's width. */
export function realign(lines: string[]): string[] {
  const out = [...lines];
  let i = 0;
  const cells = (l: string) => l.split(/ {2,}/);
  while (i < out.length) {
    const n = cells(out[i]!).length;
    let j = i;
    while (j + 1 < out.length && n >= 3 && cells(out[j + 1]!).length === n) j++;
    if (j > i) {
      const rows = out.slice(i, j + 1).map(cells);
      const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => [...r[c]!].length)));
      for (let k = i; k <= j; k++) {
        const r = rows[k - i]!;
        out[k] = r.map((cell, c) => (c === r.length - 1 ? cell : cell + " ".repeat(widths[c]! - [...cell].length))).join("  ");
      }
    }
    i = j + 1;
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Running

export interface ExampleResult {
  example: Example;
  ok: boolean;
  expected: string[];
  actual: string[];
  /** The actual output written the README's way (literals back in place), for --update. */
  regenerated: string[];
}

interface Output {
  text: string;
}

async function waitUntil(pred: () => boolean, timeoutMs: number, what: string, out: Output): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; output so far:\n${out.text}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Expected lines before the first `^C`, with placeholders: how far output must get before interrupting. */
function linesBeforeInterrupt(expect: string[]): number {
  const idx = expect.findIndex((l) => l.startsWith("^C"));
  return (idx < 0 ? expect : expect.slice(0, idx)).filter((l) => l !== "…").length;
}

/** A question answered in the README (`Confirm? [y/N] y`): the answer is typed on stdin. */
const ANSWER = /\[y\/N\] (\S+)$/;

function countLines(text: string): number {
  return text.split("\n").length - 1;
}

/** Run one `$ command` (not the interactive shell) and return what it printed on stdout and stderr, merged. */
async function runCommand(readmeText: string, expect: string[], fx: FixtureContext, handle: (h: RunHandle) => Promise<void> | void): Promise<string> {
  const command = fromReadme(readmeText, fx.vars);
  const child = spawn("/bin/sh", ["-c", `exec 2>&1\n${command}`], { cwd: fx.cwd, env: fx.env, stdio: ["pipe", "pipe", "ignore"], detached: true });
  const out: Output = { text: "" };
  child.stdout!.setEncoding("utf8").on("data", (d: string) => (out.text += d));
  const answers = expect.map((l) => ANSWER.exec(l)?.[1]).filter((a): a is string => a !== undefined);
  child.stdin!.on("error", () => undefined); // a command that never reads its stdin (`head file`) may close it first
  child.stdin!.end(fx.input.get(readmeText) ?? fx.input.get(command) ?? answers.map((a) => a + "\n").join(""));
  const closed = new Promise<void>((resolve) => child.on("close", () => resolve()));
  let done = false;
  void closed.then(() => (done = true));
  const timer = setTimeout(() => {
    try {
      process.kill(-child.pid!, "SIGKILL");
    } catch {
      /* gone */
    }
  }, COMMAND_TIMEOUT_MS);
  const h: RunHandle = {
    output: () => out.text,
    waitFor: (text, timeoutMs = WAIT_MS) => waitUntil(() => out.text.includes(text) || done, timeoutMs, JSON.stringify(text), out),
    command: readmeText,
  };
  await handle(h);
  const interrupts = expect.filter((l) => l.startsWith("^C")).length;
  for (let k = 0; k < interrupts; k++) {
    const need = linesBeforeInterrupt(expect);
    await waitUntil(() => countLines(out.text) >= need || done, COMMAND_TIMEOUT_MS, `${need} lines before ^C`, out);
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    out.text += "^C";
    try {
      process.kill(-child.pid!, "SIGINT");
    } catch {
      /* exited already */
    }
  }
  await closed;
  clearTimeout(timer);
  // a terminal echoes what was typed after a question; a pipe does not
  let k = 0;
  return answers.length ? out.text.replace(/\[y\/N\] /g, (m) => (k < answers.length ? `${m}${answers[k++]}\n` : m)) : out.text;
}

/**
 * `$ CMD   # a 60-column terminal` runs CMD on a terminal of that width (24 rows), `# a 100x8
 * terminal` of that size, and `…, typed: /auth⏎` types those keys once it has drawn (`⏎` Enter,
 * `⎋` Esc). What the example shows is the screen: for a full-screen view (alternate screen) the
 * screen once it is quiet after the last key, after which `q` leaves it; otherwise every line
 * the command left on the terminal.
 */
const TERMINAL = /\s+#\s*a (\d+)(?:-column|x(\d+)) terminal(?:, typed: (.*))?$/;

async function runTerminal(readmeText: string, m: RegExpExecArray, fx: FixtureContext, handle: (h: RunHandle) => Promise<void> | void): Promise<string> {
  const cols = Number(m[1]);
  const rows = m[2] ? Number(m[2]) : 24;
  const keys = (m[3] ?? "").replace(/⏎/g, "\r").replace(/⎋/g, "\x1b");
  const s = new ScreenSession({ env: fx.env, file: "/bin/sh", args: ["-c", fromReadme(readmeText, fx.vars)], cols, rows, cwd: fx.cwd });
  const out: Output = { get text() { return s.screen(); } };
  // quiet: nothing new on the terminal for `ms`, and a view has its first figures (not `collecting…`)
  const quiet = async (ms: number) => {
    const deadline = Date.now() + COMMAND_TIMEOUT_MS;
    let last = -1;
    let since = Date.now();
    while (Date.now() < deadline && s.exitCode === undefined) {
      await new Promise((r) => setTimeout(r, 20));
      if (s.raw.length !== last) {
        last = s.raw.length;
        since = Date.now();
      } else if (last > 0 && Date.now() - since >= ms) {
        await s.settled();
        if (!s.screen().includes("collecting…")) break;
      }
    }
    await s.settled();
  };
  const timer = setTimeout(() => s.kill(), COMMAND_TIMEOUT_MS);
  try {
    await handle({ output: () => s.screen(), waitFor: (t, ms = WAIT_MS) => waitUntil(() => s.screen().includes(t) || s.exitCode !== undefined, ms, JSON.stringify(t), out), command: readmeText });
    await quiet(SETTLE_MS * 2);
    for (const k of keys.match(/\x1b|[^\x1b]/g) ?? []) {
      s.write(k);
      await new Promise((r) => setTimeout(r, SETTLE_MS));
    }
    if (keys) await quiet(SETTLE_MS * 2);
    let lines: string[];
    if (s.term.buffer.active.type === "alternate") {
      lines = s.lines();
      s.write("q");
      await Promise.race([s.exited, new Promise((r) => setTimeout(r, 5_000))]);
    } else {
      await s.exited;
      await s.settled();
      lines = s.allLines().map((l) => l.text);
    }
    lines = lines.map((l) => l.trimEnd()); // the selected row is drawn to the edge
    while (lines.length && lines[lines.length - 1] === "") lines.pop();
    return lines.join("\n") + "\n";
  } finally {
    clearTimeout(timer);
    s.kill();
  }
}

interface IPty {
  onData(cb: (d: string) => void): void;
  onExit(cb: (e: { exitCode: number }) => void): void;
  write(data: string): void;
  kill(signal?: string): void;
}

/** Run the interactive shell in a real pseudo-terminal, typing each `> ` line when the prompt is back. */
async function runInteractive(all: Step[], fx: FixtureContext, handle: (h: RunHandle) => Promise<void> | void): Promise<string> {
  const nodePty = require("node-pty") as { spawn(f: string, a: string[], o: Record<string, unknown>): IPty };
  const pty = nodePty.spawn(process.execPath, [CLI], { name: "xterm-256color", cols: 200, rows: 50, cwd: fx.cwd, env: fx.env });
  const out: Output = { text: "" };
  let raw = "";
  let exited = false;
  pty.onData((d) => {
    raw += d;
    out.text = plain(raw);
  });
  const exit = new Promise<void>((resolve) => pty.onExit(() => ((exited = true), resolve())));
  const atPrompt = (from: number) => /(^|\n)> $/.test(out.text.slice(from));
  try {
    const h: RunHandle = {
      output: () => out.text,
      waitFor: (text, timeoutMs = WAIT_MS) => waitUntil(() => out.text.includes(text) || exited, timeoutMs, JSON.stringify(text), out),
      command: "opensre",
    };
    let mark = 0;
    await waitUntil(() => atPrompt(0) || exited, WAIT_MS, "the first prompt", out);
    for (const step of all.slice(1)) {
      if (step.kind !== "input" || step.text === "" ) continue;
      mark = out.text.length;
      pty.write(fromReadme(step.text, fx.vars) + "\r");
      if (step.expect.some((l) => l.startsWith("^C"))) {
        await handle(h);
        const need = linesBeforeInterrupt(step.expect) + 1;
        await waitUntil(() => countLines(out.text.slice(mark)) >= need || exited, COMMAND_TIMEOUT_MS, `${need} lines before ^C`, out);
        await new Promise((r) => setTimeout(r, SETTLE_MS));
        pty.write("\x03");
      }
      if (/^\/(exit|quit)$/.test(step.text.trim())) break;
      await waitUntil(() => atPrompt(mark + 1) || exited, COMMAND_TIMEOUT_MS, `the prompt after ${step.text}`, out);
      await new Promise((r) => setTimeout(r, SETTLE_MS));
    }
    await Promise.race([exit, new Promise((r) => setTimeout(r, 5_000))]);
  } finally {
    try {
      pty.kill("SIGKILL");
    } catch {
      /* gone */
    }
  }
  return out.text;
}

/** The `opensre` command the examples run: the built CLI of this checkout. */
function shim(dir: string): string {
  const bin = join(dir, "bin");
  mkdirSync(bin, { recursive: true });
  const file = join(bin, "opensre");
  writeFileSync(file, `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} "$@"\n`);
  chmodSync(file, 0o755);
  return bin;
}

/** Run one example in a fresh fixture and compare. */
export async function runExample(example: Example): Promise<ExampleResult> {
  const fixture: Fixture | undefined = FIXTURES[example.fixture];
  if (!fixture) throw new Error(`README.md:${example.line}: unknown fixture "${example.fixture}" (see test/readme/fixtures.ts)`);
  const dir = tempDir("osre-rd-");
  const cleanups: Array<() => void | Promise<void>> = [];
  try {
    const fx = baseContext(dir.path, cleanups);
    await fixture.setup(fx);
    const { steps: all, interactive } = steps(example.body);
    const transcript: string[] = [];
    if (interactive) {
      transcript.push(`$ opensre`);
      const text = await runInteractive(all, fx, (h) => fixture.during?.(fx, h));
      transcript.push(...text.replace(/\n$/, "").split("\n"));
    } else {
      for (const step of all) {
        transcript.push(`$ ${step.text}`);
        const term = TERMINAL.exec(step.text);
        const text = term
          ? await runTerminal(step.text.slice(0, term.index).trimEnd(), term, fx, (h) => fixture.during?.(fx, h))
          : await runCommand(step.text, step.expect, fx, (h) => fixture.during?.(fx, h));
        if (text !== "") transcript.push(...text.replace(/\n$/, "").split("\n"));
      }
    }
    const regenerated = realign(toReadme(transcript.join("\n"), fx.vars).split("\n"));
    const extra = fixture.normalise ?? [];
    const expected = example.body.map((l) => normaliseLine(l, extra)).filter((l) => l !== "");
    const actual = regenerated.map((l) => normaliseLine(l, extra)).filter((l) => l !== "");
    return { example, ok: linesMatch(expected, actual), expected, actual, regenerated };
  } finally {
    for (const c of cleanups.reverse()) {
      try {
        await c();
      } catch {
        /* best effort */
      }
    }
    dir.cleanup();
  }
}

/**
 * A view of the real /proc limited to the processes an example keeps: `<root>/proc/<pid>` links
 * to `/proc/<pid>` (added by `keep`), `stat` (boot time) and `net` link to the real ones.
 */
function procView(root: string): string {
  const dir = join(root, "proc");
  mkdirSync(dir, { recursive: true });
  symlinkSync("/proc/stat", join(dir, "stat"));
  symlinkSync("/proc/net", join(dir, "net"));
  return dir;
}

/**
 * A temp user: `HOME` is `<tmp>/home/dev` (so `~/.config/opensre` is the tool's default home and
 * the agents' default locations are under it), `opensre` is on PATH, no inherited OPENSRE_* or
 * agent location variables, UTC, no colour.
 */
function baseContext(root: string, cleanups: Array<() => void | Promise<void>>): FixtureContext {
  const home = join(root, "home", "dev");
  mkdirSync(home, { recursive: true });
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith("OPENSRE_") || ["CLAUDE_CONFIG_DIR", "CODEX_HOME", "GEMINI_DIR", "XDG_CONFIG_HOME", "NODE_OPTIONS", "NODE_TEST_CONTEXT"].includes(k)) continue;
    env[k] = v;
  }
  Object.assign(env, { HOME: home, PATH: `${shim(root)}:${process.env.PATH ?? "/usr/bin:/bin"}`, TZ: "UTC", NO_COLOR: "1", LANG: "C.UTF-8" });
  // the tool sees only the example's own processes (kept by the fixture), not the machine's
  env.OPENSRE_PROC_ROOT = procView(root);
  const vars = new Map<string, string>([["/home/dev", home]]);
  return { root, home, cwd: home, env, vars, input: new Map(), cleanups };
}

/** Rewrite README.md's checked blocks with their regenerated output. */
export function updateReadme(results: ExampleResult[]): void {
  const lines = readFileSync(README, "utf8").split("\n");
  for (const r of [...results].sort((a, b) => b.example.start - a.example.start)) {
    lines.splice(r.example.start, r.example.end - r.example.start + 1, ...r.regenerated);
  }
  writeFileSync(README, lines.join("\n"));
}

/** A readable diff of normalised lines for a failure message. */
export function describeMismatch(r: ExampleResult): string {
  const exp = r.expected.map((l) => `  - ${l}`).join("\n");
  const act = r.actual.map((l) => `  + ${l}`).join("\n");
  return `README.md:${r.example.line} (fixture ${r.example.fixture}) does not match a real run (normalised)\nexpected:\n${exp}\nactual:\n${act}\nreal output, README-style:\n${r.regenerated.join("\n")}`;
}
