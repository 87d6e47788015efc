import { CommandError, type CommandContext } from "../../shell/command.js";
import { discover } from "../discovery.js";
import { processCwd, processOpenFiles, readProcessTable } from "../procfs.js";
import { lookupAgent } from "../registry.js";
import { isSameProcess } from "../procfs.js";
import { matchSession } from "./match.js";
import { locateAgent, scopeOf } from "../locate.js";
import { noTranscriptReason } from "./registry.js";
import type { RefreshScope } from "./store.js";
import { TranscriptStore } from "./store.js";
import type { TranscriptEvent } from "./types.js";
import { escapeText } from "../../term/sanitize.js";

/** How often the transcript is re-read while following. */
export const TRANSCRIPT_POLL_MS = 500;

/** One readable line per event: `> prompt`, `· tool Edit …`, `✗ …`, `< answer`, `! api error …`. */
export function renderEvent(e: TranscriptEvent): string | null {
  switch (e.kind) {
    case "user_prompt":
      return `> ${e.text}`;
    case "assistant_text":
      return `< ${e.text}`;
    case "tool_call":
      return `· tool ${e.tool}${e.summary ? ` ${e.summary}` : ""}`;
    case "tool_result":
      return e.ok ? null : `✗ tool ${e.tool ?? ""} failed${e.summary ? `: ${e.summary}` : ""}`.replace("tool  failed", "tool failed");
    case "api_error":
      return `! api error${e.status ? ` ${e.status}` : ""}: ${e.message}`;
    case "write":
      return `· wrote ${e.path}`;
    case "turn_end":
      return e.durationMs !== null ? `· turn done in ${(e.durationMs / 1000).toFixed(1)}s` : null;
    case "waiting":
      return `· ${e.reason}`;
    default:
      return null;
  }
}

export interface TranscriptFollowOptions {
  home: string;
  env: NodeJS.ProcessEnv;
  procRoot?: string;
  signal: AbortSignal;
  /** Show this many events from before the start (default none). */
  tailLines?: number;
  /** The session transcript was found; what is appended from now on follows. */
  onStart(path: string): void;
  /** One readable line per event (`renderEvent`), as written by the agent: escape it for a terminal. */
  onLine(line: string): void;
}

/** Processes of one agent's tree looked at (as the collector's). */
const MAX_TREE = 512;

/**
 * Follow the session transcript of agent `pid` until `signal` aborts or the process exits.
 * Throws `CommandError` with the user-facing reason when there is nothing to follow.
 */
export async function followTranscript(pid: number, label: string, opts: TranscriptFollowOptions): Promise<"exited" | "interrupted"> {
  const table = readProcessTable({ procRoot: opts.procRoot });
  const proc = table.procs.find((p) => p.pid === pid);
  if (!proc) throw new CommandError(`cannot trace ${label}: no such pid ${pid}`);
  const registered = lookupAgent(opts.home, pid);
  const found = discover(table.procs, proc.uid).find((c) => c.proc.pid === pid);
  const provider = registered && registered.provider !== "unknown" ? registered.provider : found?.provider;
  if (!provider) throw new CommandError(`cannot trace ${label} transcript: pid ${pid} is not a known agent (register it with its provider, or run /agents scan --explain)`);
  const none = noTranscriptReason(provider);
  if (none) throw new CommandError(`cannot trace ${label} transcript: ${none}`);
  const store = new TranscriptStore({ env: opts.env });
  const cwd = processCwd(pid, opts.procRoot);
  if (provider === "aider" && cwd) store.addAiderRoot(cwd);
  // the agent and its children (a wrapper's native child holds its session files open), as the dashboard sees it
  const pids = [pid];
  for (let i = 0; i < pids.length && pids.length < MAX_TREE; i++) for (const p of table.procs) if (p.ppid === pids[i]) pids.push(p.pid);
  const openFiles = pids.flatMap((p) => processOpenFiles(p, opts.procRoot));
  const loc = await locateAgent(pid, provider, proc.startTime, opts.env, opts.procRoot, { pids, openFiles });
  const scope: RefreshScope = { agents: scopeOf([{ provider, cwd, startTime: proc.startTime, loc }]) };
  await store.refresh(scope);
  const hint = { pid, provider, cwd, startTime: proc.startTime, openFiles, sessionId: loc.sessionId, pinned: loc.pinned };
  const session = matchSession(hint, store.sessions());
  if (!session) {
    const why = loc.sessionId ? ` (its session ${escapeText(loc.sessionId)} has no transcript yet)` : "";
    throw new CommandError(`cannot trace ${label} transcript: no ${escapeText(provider)} session transcript found for pid ${pid}${cwd ? ` in ${escapeText(cwd)}` : ""}${why}`);
  }
  opts.onStart(session.path);
  const shown = new WeakSet<TranscriptEvent>();
  const initial = store.events(session.path);
  const backlog = opts.tailLines !== undefined ? initial.slice(-opts.tailLines) : [];
  for (const e of initial) if (!backlog.includes(e)) shown.add(e);
  let exited = false;
  const signal = opts.signal;
  while (!signal.aborted) {
    for (const e of store.events(session.path)) {
      if (shown.has(e)) continue;
      shown.add(e);
      const line = renderEvent(e);
      if (line) opts.onLine(line);
    }
    if (exited) break;
    await new Promise<void>((resolve) => {
      const t = setTimeout(done, TRANSCRIPT_POLL_MS);
      function done() {
        clearTimeout(t);
        signal.removeEventListener("abort", done);
        resolve();
      }
      signal.addEventListener("abort", done, { once: true });
    });
    if (signal.aborted) break;
    exited = !isSameProcess(pid, proc.startTime);
    await store.refresh(scope);
  }
  return exited ? "exited" : "interrupted";
}

/**
 * `opensre agents trace <pid> --transcript`: follow the session transcript of an agent whose
 * stdout is a terminal, as readable prompt / tool / answer lines.
 */
export async function runTranscriptTrace(pid: number, label: string, ctx: CommandContext, opts: { tailLines?: number; procRoot?: string } = {}): Promise<number> {
  const end = await followTranscript(pid, label, {
    home: ctx.home,
    env: ctx.env,
    procRoot: opts.procRoot,
    signal: ctx.signal,
    tailLines: opts.tailLines,
    onStart: (path) => ctx.stdout.write(`trace ${label} transcript ${escapeText(path)}  Ctrl+C to stop\n`),
    // prompts, answers, tool names and errors are the agent's text: every control shown escaped
    onLine: (line) => ctx.stdout.write(escapeText(line, { multiline: true }) + "\n"),
  });
  if (end === "exited") ctx.stdout.write("· process exited\n");
  ctx.stdout.write("· trace ended\n");
  return 0;
}
