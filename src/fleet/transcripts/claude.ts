import { readdir } from "node:fs/promises";
import { join } from "node:path";
import type { Adapter, FileParser, ParseSink } from "./adapter.js";
import { num, obj, oneLine, str, time, parseRecord } from "./parse-util.js";

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

async function list(dir: string): Promise<import("node:fs").Dirent[]> {
  try {
    return await readdir(dir, { withFileTypes: true });
  } catch {
    return [];
  }
}

class ClaudeParser implements FileParser {
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
      sink.event({ kind: "turn_end", t, durationMs: typeof d.durationMs === "number" ? d.durationMs : null });
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
      if (pending && ok && confirmed) sink.event({ kind: "write", t: pending.t, path: confirmed, tool: pending.tool });
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
      const requestId = str(d.requestId);
      sink.event({ kind: "request", t, model, dedupeKey: id ? `claude:${id}:${requestId ?? ""}` : null, usage, reportedUsd: null });
      const window = model && /\[1m\]/.test(model) ? 1_000_000 : CLAUDE_CONTEXT;
      sink.event({ kind: "context", t, usedTokens: usage.input + usage.cacheRead + usage.cacheWrite5m + usage.cacheWrite1h, windowTokens: window });
    }
    for (const item of content) {
      const c = obj(item);
      if (!c) continue;
      if (c.type === "text" && typeof c.text === "string") sink.event({ kind: "assistant_text", t, text: oneLine(c.text) });
      if (c.type === "tool_use") {
        const name = str(c.name) ?? "tool";
        const toolId = str(c.id) ?? "";
        const input = obj(c.input) ?? {};
        if (toolId && this.toolNames.has(toolId)) continue; // the same tool_use repeated on a later line
        this.toolNames.set(toolId, name);
        if (this.toolNames.size > 10_000) this.toolNames.delete(this.toolNames.keys().next().value!);
        const target = str(input.file_path) ?? str(input.notebook_path) ?? str(input.command) ?? str(input.pattern) ?? str(input.url) ?? "";
        sink.event({ kind: "tool_call", t, tool: name, summary: oneLine(target) });
        const path = str(input.file_path) ?? str(input.notebook_path);
        if (CLAUDE_WRITE_TOOLS.has(name) && path) this.pendingWrites.set(toolId, { t, path, tool: name });
      }
    }
    if (msg.stop_reason === "end_turn") sink.event({ kind: "waiting", t, reason: "turn ended; waiting for the next prompt" });
  }
}

export const claudeAdapter: Adapter = {
  provider: "claude-code",
  async listFiles(env) {
    const out: string[] = [];
    for (const root of claudeRoots(env)) {
      const projects = join(root, "projects");
      for (const p of await list(projects)) {
        if (!p.isDirectory()) continue;
        const dir = join(projects, p.name);
        for (const f of await list(dir)) {
          if (f.isFile() && f.name.endsWith(".jsonl")) out.push(join(dir, f.name));
          else if (f.isDirectory()) {
            // sub-agent transcripts: projects/<dir>/<session>/subagents/*.jsonl
            const sub = join(dir, f.name, "subagents");
            for (const s of await list(sub)) if (s.isFile() && s.name.endsWith(".jsonl")) out.push(join(sub, s.name));
          }
        }
      }
    }
    return out;
  },
  initialMeta(path) {
    const m = /\/projects\/[^/]+\/([0-9a-f-]{36})\/subagents\//.exec(path);
    const base = /([0-9a-f-]{36})\.jsonl$/.exec(path);
    return { ...(m ? { parentSessionId: m[1] } : {}), ...(base && !m ? { sessionId: base[1] } : {}) };
  },
  newParser: () => new ClaudeParser(),
};
