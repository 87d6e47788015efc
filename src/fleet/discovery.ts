import { basename } from "node:path";
import type { Provider } from "./model.js";
import type { ProcInfo } from "./procfs.js";

/** A process recognised as an AI coding agent. */
export interface Candidate {
  proc: ProcInfo;
  provider: Provider;
  /** 0..1: how sure the rule is. */
  confidence: number;
  /** One line: why (`--explain`). */
  reason: string;
}

/** Interpreters that run an agent's script: the script path decides. */
const INTERPRETERS = /^(node|nodejs|bun|deno|python\d*(\.\d+)?|pypy\d*)$/;

interface Rule {
  provider: Provider;
  /** Executable basenames of the agent itself. */
  bins: string[];
  /** Script or package paths an interpreter runs. */
  scripts: RegExp[];
}

const RULES: Rule[] = [
  { provider: "claude-code", bins: ["claude", "claude.exe"], scripts: [/@anthropic-ai\/claude-code\/cli\.m?js$/, /\/bin\/claude$/] },
  { provider: "codex", bins: ["codex", "codex-x86_64-unknown-linux-musl", "codex-aarch64-unknown-linux-musl", "codex-aarch64-apple-darwin", "codex-x86_64-apple-darwin"], scripts: [/@openai\/codex\/bin\/codex(\.js)?$/, /\/bin\/codex$/] },
  { provider: "gemini", bins: ["gemini"], scripts: [/@google\/gemini-cli\/(dist\/)?(index|bundle\/gemini)\.m?js$/, /@google\/gemini-cli\//, /\/bin\/gemini$/] },
  { provider: "aider", bins: ["aider"], scripts: [/\/bin\/aider$/, /(^|\/)aider(\/__main__\.py)?$/] },
  { provider: "cursor", bins: ["cursor-agent"], scripts: [/cursor-agent/, /agent-exec/] },
  { provider: "opencode", bins: ["opencode", "opencode.exe"], scripts: [/opencode-ai\//, /\/bin\/opencode$/] },
  { provider: "copilot", bins: ["copilot"], scripts: [/@github\/copilot\//, /\/bin\/copilot$/] },
  { provider: "amp", bins: ["amp", "amp.exe"], scripts: [/@sourcegraph\/amp\//, /\/bin\/amp$/] },
];

/** Desktop apps and helper noise: never an agent row, whatever their name. */
const EXCLUDE: Array<[RegExp, string]> = [
  [/\.app\/Contents\//, "a macOS desktop app bundle"],
  [/^\/opt\/(Claude|Cursor|Codex)\b|\/claude-desktop\b/i, "a desktop app"],
  [/^\/snap\//, "a snap package"],
  [/\.AppImage\b|\/tmp\/\.mount_/, "an AppImage"],
  [/crashpad/i, "a crash reporter"],
  [/language[-_]?server|\blsp\b|typescript-language|pyright|gopls|rust-analyzer/i, "a language server"],
];

/** Match one process against the rules; null when it is not an agent. */
export function classify(proc: ProcInfo): Omit<Candidate, "proc"> | null {
  // a process that rewrote its title (npm: "npm i @sourcegraph/amp") has one argv entry
  // holding a whole command line: its first word is the program, not the last path segment
  const argv = proc.argv.length === 1 && /\s/.test(proc.argv[0]!) ? proc.argv[0]!.trim().split(/\s+/) : proc.argv;
  const exe = argv[0] ?? proc.comm;
  const joined = argv.join(" ");
  for (const [re] of EXCLUDE) if (re.test(exe)) return null;
  if (argv.some((a) => a.startsWith("--type=")) && !/agent-exec/.test(joined)) return null; // Electron helpers
  if (EXCLUDE.slice(4).some(([re]) => re.test(joined))) return null;
  const bin = basename(exe);
  for (const rule of RULES) {
    if (rule.bins.includes(bin)) return { provider: rule.provider, confidence: 0.95, reason: `executable named ${bin}` };
  }
  if (INTERPRETERS.test(bin)) {
    // the first argument that is not an interpreter flag is the script (or `-m module`)
    let script: string | undefined;
    for (let i = 1; i < argv.length; i++) {
      const a = argv[i]!;
      if (a === "-m" && argv[i + 1]) {
        script = argv[i + 1];
        break;
      }
      if (a.startsWith("-")) continue;
      script = a;
      break;
    }
    if (script) {
      for (const rule of RULES) {
        if (rule.scripts.some((re) => re.test(script!)) || rule.bins.includes(basename(script))) {
          return { provider: rule.provider, confidence: 0.9, reason: `${bin} running ${script}` };
        }
      }
    }
  }
  if (/agent-exec/.test(joined) && /cursor/i.test(joined)) return { provider: "cursor", confidence: 0.7, reason: "Cursor agent-exec extension host" };
  return null;
}

/** Why a process was excluded, for `scan --all --explain`. */
export function exclusionReason(proc: ProcInfo): string | null {
  const exe = proc.argv[0] ?? proc.comm;
  for (const [re, why] of EXCLUDE) if (re.test(exe) || re.test(proc.argv.join(" "))) return why;
  if (proc.argv.some((a) => a.startsWith("--type="))) return "an Electron helper (--type=)";
  return null;
}

/**
 * Every agent process of `uid` in the table. A wrapper and the child it starts (Codex's
 * npm wrapper and native binary, Gemini's relaunch) collapse into the outermost one.
 */
export function discover(procs: readonly ProcInfo[], uid: number, exclude: ReadonlySet<number> = new Set()): Candidate[] {
  const byPid = new Map(procs.map((p) => [p.pid, p]));
  const hits = new Map<number, Candidate>();
  for (const p of procs) {
    if (p.uid !== uid || exclude.has(p.pid)) continue;
    const c = classify(p);
    if (c) hits.set(p.pid, { proc: p, ...c });
  }
  const out: Candidate[] = [];
  for (const c of hits.values()) {
    let parent = byPid.get(c.proc.ppid);
    let collapsed = false;
    for (let depth = 0; parent && depth < 8; depth++) {
      const ph = hits.get(parent.pid);
      if (ph && ph.provider === c.provider) {
        collapsed = true;
        break;
      }
      parent = byPid.get(parent.ppid);
    }
    if (!collapsed) out.push(c);
  }
  return out.sort((a, b) => a.proc.pid - b.proc.pid);
}
