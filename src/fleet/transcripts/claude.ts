import { statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import type { Adapter, FileParser, ListScope, LiveProcess, LiveSession, ParseSink } from "./adapter.js";
import { readRegularFile } from "./reader.js";
import { derive, listDir, recentListing } from "./listing.js";
import { claudeProjectDir } from "./paths.js";
import { intern, num, obj, oneLine, own, str, time, parseRecord } from "./parse-util.js";

/** Tools whose `file_path` is a file the agent writes. */
export const CLAUDE_WRITE_TOOLS = new Set(["Write", "Edit", "MultiEdit", "NotebookEdit"]);
/** Context window of Claude models (the `[1m]` variants have 1M). */
const CLAUDE_CONTEXT = 200_000;

/** `CLAUDE_CONFIG_DIR` (comma-separated allowed), else `~/.claude` and `~/.config/claude`. */
export function claudeRoots(env: NodeJS.ProcessEnv): string[] {
  const dirs = env.CLAUDE_CONFIG_DIR?.split(",").map((s) => s.trim()).filter(Boolean);
  if (dirs && dirs.length) return dirs;
  const home = env.HOME ?? "";
  return home ? [join(home, ".claude"), join(home, ".config", "claude")] : [];
}

/** The `projects` folder of a config dir (the variable may also name the `projects` folder itself). */
export function claudeProjectsDirs(env: NodeJS.ProcessEnv): string[] {
  return claudeRoots(env).map((r) => (basename(r) === "projects" ? r : join(r, "projects")));
}

/** The config dirs themselves (a `projects` folder named by the variable stands for its parent). */
function claudeConfigDirs(env: NodeJS.ProcessEnv): string[] {
  return claudeRoots(env).map((r) => (basename(r) === "projects" ? dirname(r) : r));
}

/** `sessions/<pid>.json` is a few hundred bytes; anything larger is not Claude's. */
const MAX_SESSION_RECORD = 64 * 1024;
/** The record is written once the process runs: one started long before the process is a reused pid's. */
const RECORD_SLACK_MS = 5_000;

/**
 * Parsed `sessions/<pid>.json` records, reused while the file is unchanged (same inode, size and
 * mtime): a live view does not read and parse 50 records every refresh. Bounded: past it, the
 * oldest entry is let go (and read again when next needed).
 */
export const MAX_SESSION_RECORDS = 4096;
const sessionRecords = new Map<string, { ino: number; size: number; mtimeMs: number; record: Record<string, unknown> | null }>();

/** Counters for tests and benchmarks: session records read and parsed. */
export const sessionRecordStats = { reads: 0 };

/**
 * The record `<config dir>/sessions/<pid>.json`, or null. Whether it exists is answered by the
 * `sessions` folder's listing (kept while the folder is unchanged: one stat per config dir per
 * refresh, not a failed open per agent); an existing one is read again only when it changed.
 */
async function sessionRecord(dir: string, pid: number, memo?: Map<string, unknown>): Promise<Record<string, unknown> | null> {
  const folder = join(dir, "sessions");
  const key = `claude-sessions\0${folder}`;
  let names = memo?.get(key) as ReadonlySet<string> | undefined;
  if (!names) {
    const listing = await listDir(folder);
    names = derive(listing, "claude-sessions", () => new Set(listing.files));
    memo?.set(key, names);
  }
  const name = `${pid}.json`;
  if (!names.has(name)) return null;
  const path = join(folder, name);
  const st = statSync(path, { throwIfNoEntry: false });
  if (!st || !st.isFile()) return null;
  const hit = sessionRecords.get(path);
  if (hit && hit.ino === st.ino && hit.size === st.size && hit.mtimeMs === st.mtimeMs) return hit.record;
  sessionRecordStats.reads++;
  let record: Record<string, unknown> | null = null;
  try {
    const r = await readRegularFile(path, MAX_SESSION_RECORD);
    if (r && r !== "too-large") record = obj(JSON.parse(r.text));
  } catch {
    record = null;
  }
  sessionRecords.delete(path);
  sessionRecords.set(path, { ino: st.ino, size: st.size, mtimeMs: st.mtimeMs, record });
  if (sessionRecords.size > MAX_SESSION_RECORDS) sessionRecords.delete(sessionRecords.keys().next().value!);
  return record;
}

/**
 * Claude Code's own record of a live process: `<config dir>/sessions/<pid>.json` holds
 * `{pid, sessionId, cwd, startedAt, …}` (2.1.x). Only that file is read (never the `.key`
 * file beside it); a record older than the process is a reused pid's and is ignored.
 */
export async function claudeLiveSession(pid: number, env: NodeJS.ProcessEnv, startTime: number | null, proc?: LiveProcess): Promise<LiveSession | null> {
  for (const dir of claudeConfigDirs(env)) {
    let d: Record<string, unknown> | null;
    try {
      d = await sessionRecord(dir, pid, proc?.refreshMemo);
    } catch {
      continue;
    }
    const sessionId = str(d?.sessionId);
    if (!d || !sessionId || !/^[0-9a-f-]{36}$/.test(sessionId) || (typeof d.pid === "number" && d.pid !== pid)) continue;
    if (startTime !== null && typeof d.startedAt === "number" && d.startedAt < startTime - RECORD_SLACK_MS) continue;
    const cwd = str(d.cwd);
    const projects = basename(dir) === "projects" ? dir : join(dir, "projects");
    return { sessionId, paths: cwd ? [join(projects, claudeProjectDir(cwd), `${sessionId}.jsonl`)] : [] };
  }
  return null;
}

/** How recently a project folder must have been found unchanged for its listing to say a session has no sub-folder. */
const SUBFOLDER_TRUST_MS = 1_000;

/** Sub-agent transcripts nest (`<session>/subagents/…/subagents/…`); deeper than this is not a transcript tree. */
const MAX_NESTING = 8;

/** Every `.jsonl` regular file under a project folder, sub-agent runs included at any depth (symlinks, FIFOs and devices are skipped). */
async function projectFiles(dir: string, depth: number, out: string[]): Promise<void> {
  const listing = await listDir(dir);
  for (const p of derive(listing, "claude", () => listing.files.filter((f) => f.endsWith(".jsonl")).map((f) => join(dir, f)))) out.push(p);
  if (depth < MAX_NESTING) for (const d of listing.dirs) await projectFiles(join(dir, d), depth + 1, out);
}

class ClaudeParser implements FileParser {
  readonly jsonLines = true;
  private readonly toolNames = new Map<string, string>();
  private readonly pendingWrites = new Map<string, { t: number; path: string; tool: string }>();

  line(text: string, sink: ParseSink): void {
    const d = parseRecord(text, sink);
    if (!d) return;
    const t = time(d.timestamp);
    if (typeof d.cwd === "string") sink.meta({ cwd: d.cwd });
    if (typeof d.sessionId === "string") sink.meta({ sessionId: d.sessionId });
    const type = d.type;
    if (type === "system" && d.subtype === "turn_duration" && t !== null) {
      // the turn is over (also after an API error): Claude is back at its prompt
      sink.event({ kind: "turn_end", t, durationMs: typeof d.durationMs === "number" ? d.durationMs : null });
      sink.event({ kind: "waiting", t, reason: "turn ended; waiting for the next prompt" });
      return;
    }
    const msg = obj(d.message);
    if (!msg || t === null) return;
    if (type === "user") this.user(d, msg, t, sink);
    else if (type === "assistant") this.assistant(d, msg, t, sink);
  }

  private user(d: Record<string, unknown>, msg: Record<string, unknown>, t: number, sink: ParseSink): void {
    const content = msg.content;
    if (typeof content === "string") {
      if (!d.isMeta) sink.event({ kind: "user_prompt", t, text: oneLine(content) });
      return;
    }
    if (!Array.isArray(content)) return;
    const result = obj(d.toolUseResult);
    for (const item of content) {
      const c = obj(item);
      if (!c) continue;
      if (c.type === "text" && typeof c.text === "string" && !d.isMeta) sink.event({ kind: "user_prompt", t, text: oneLine(c.text) });
      if (c.type !== "tool_result") continue;
      const id = str(c.tool_use_id) ?? "";
      const ok = c.is_error !== true;
      const tool = this.toolNames.get(id) ?? null;
      const body = typeof c.content === "string" ? c.content : Array.isArray(c.content) ? c.content.map((x) => str(obj(x)?.text) ?? "").join(" ") : "";
      sink.event({ kind: "tool_result", t, tool, ok, summary: oneLine(body) });
      const pending = this.pendingWrites.get(id);
      this.pendingWrites.delete(id);
      const confirmed = str(result?.filePath);
      if (pending && ok && confirmed) sink.event({ kind: "write", t: pending.t, path: own(confirmed), tool: pending.tool });
    }
  }

  private assistant(d: Record<string, unknown>, msg: Record<string, unknown>, t: number, sink: ParseSink): void {
    const model = str(msg.model);
    const id = str(msg.id);
    const content = Array.isArray(msg.content) ? msg.content : [];
    if (d.isApiErrorMessage === true || model === "<synthetic>") {
      const text = content.map((x) => str(obj(x)?.text) ?? "").join(" ");
      if (d.isApiErrorMessage === true || /^API Error/.test(text)) {
        const m = /API Error:?\s*(\d{3})/.exec(text);
        sink.event({ kind: "api_error", t, status: m ? Number(m[1]) : null, message: oneLine(text), dedupeKey: id ? `claude:${id}` : null });
        // Claude writes this after its retries: the turn is over and it is back at its prompt
        // (2.1.3xx writes no turn_duration after it)
        if (d.isApiErrorMessage === true) sink.event({ kind: "waiting", t, reason: "turn ended in an API error; waiting for the next prompt" });
      }
      return;
    }
    if (model) sink.meta({ model });
    const u = obj(msg.usage);
    if (u) {
      const cc = obj(u.cache_creation);
      const w1h = cc ? num(cc.ephemeral_1h_input_tokens) : 0;
      const w5m = cc ? num(cc.ephemeral_5m_input_tokens) : num(u.cache_creation_input_tokens);
      const usage = { input: num(u.input_tokens), output: num(u.output_tokens), reasoning: 0, cacheWrite5m: w5m, cacheWrite1h: w1h, cacheRead: num(u.cache_read_input_tokens) };
      // the API message id identifies a response: the lines of one response repeat it, and a
      // resumed session or a sub-agent transcript that replays it (under a new requestId) is the same response
      sink.event({ kind: "request", t, model: model ? intern(model) : null, dedupeKey: id ? `claude:${id}` : null, usage, reportedUsd: null });
      if (sink.usageOnly) return;
      const window = model && /\[1m\]/.test(model) ? 1_000_000 : CLAUDE_CONTEXT;
      sink.event({ kind: "context", t, usedTokens: usage.input + usage.cacheRead + usage.cacheWrite5m + usage.cacheWrite1h, windowTokens: window });
    }
    for (const item of content) {
      const c = obj(item);
      if (!c) continue;
      if (c.type === "text" && typeof c.text === "string") sink.event({ kind: "assistant_text", t, text: oneLine(c.text) });
      if (c.type === "tool_use") {
        const name = intern(str(c.name) ?? "tool");
        const toolId = str(c.id) ?? "";
        const input = obj(c.input) ?? {};
        if (toolId && this.toolNames.has(toolId)) continue; // the same tool_use repeated on a later line
        this.toolNames.set(toolId, name);
        if (this.toolNames.size > 10_000) this.toolNames.delete(this.toolNames.keys().next().value!);
        const target = str(input.file_path) ?? str(input.notebook_path) ?? str(input.command) ?? str(input.pattern) ?? str(input.url) ?? "";
        sink.event({ kind: "tool_call", t, tool: name, summary: oneLine(target) });
        const path = str(input.file_path) ?? str(input.notebook_path);
        if (CLAUDE_WRITE_TOOLS.has(name) && path) {
          this.pendingWrites.set(toolId, { t, path: own(path), tool: name });
          if (this.pendingWrites.size > 10_000) this.pendingWrites.delete(this.pendingWrites.keys().next().value!);
        }
      }
    }
    if (msg.stop_reason === "end_turn") sink.event({ kind: "waiting", t, reason: "turn ended; waiting for the next prompt" });
  }
}

export const claudeAdapter: Adapter = {
  provider: "claude-code",
  async listFiles(env, _extra, scope?: ListScope) {
    const out: string[] = [];
    for (const projects of claudeProjectsDirs(env)) {
      if (scope?.cwd) {
        // a live session is in the folder named after its working directory; its sub-agent runs
        // (`<session>/subagents/…`) are listed by `sessionFiles` once the session is found live
        await projectFiles(join(projects, claudeProjectDir(scope.cwd)), MAX_NESTING, out);
        continue;
      }
      for (const p of (await listDir(projects)).dirs) await projectFiles(join(projects, p), 0, out);
    }
    return out;
  },
  async sessionFiles(path) {
    // projects/<dir>/<session>.jsonl, and its sub-agent runs under projects/<dir>/<session>/
    const out = [path];
    if (!path.endsWith(".jsonl")) return out;
    const sub = path.slice(0, -".jsonl".length);
    // the project folder listed moments ago says whether the session has a sub-folder at all
    const parent = recentListing(dirname(sub), Date.now() - SUBFOLDER_TRUST_MS);
    if (parent && !derive(parent, "claude-dirs", () => new Set(parent.dirs)).has(basename(sub))) return out;
    await projectFiles(sub, 1, out);
    return out;
  },
  initialMeta(path) {
    // projects/<dir>/<session>.jsonl, or projects/<dir>/<session>/subagents/…/<agent>.jsonl
    const m = /\/projects\/[^/]+\/([0-9a-f-]{36})\/.+\.jsonl$/.exec(path);
    const base = /\/([0-9a-f-]{36})\.jsonl$/.exec(path);
    return { ...(m ? { parentSessionId: m[1] } : {}), ...(base && !m ? { sessionId: base[1] } : {}) };
  },
  newParser: () => new ClaudeParser(),
  liveSession: claudeLiveSession,
};
