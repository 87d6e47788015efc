import { readdir } from "node:fs/promises";
import { join } from "node:path";
import type { Adapter, FileParser, ParseSink } from "./adapter.js";
import { num, obj, oneLine, str, time, parseRecord } from "./parse-util.js";

/** Gemini CLI's dir: `GEMINI_DIR`, else `~/.gemini`. */
export function geminiDir(env: NodeJS.ProcessEnv): string | null {
  if (env.GEMINI_DIR) return env.GEMINI_DIR;
  return env.HOME ? join(env.HOME, ".gemini") : null;
}

const GEMINI_WRITE_TOOLS = new Set(["write_file", "replace", "edit"]);

/** Gemini rewrites the whole chat file; each re-read emits only messages not seen before. */
class GeminiParser implements FileParser {
  private readonly seen = new Set<string>();

  whole(text: string, sink: ParseSink): void {
    const d = parseRecord(text, sink);
    if (!d) return;
    if (typeof d.sessionId === "string") sink.meta({ sessionId: d.sessionId });
    const messages = Array.isArray(d.messages) ? d.messages : [];
    messages.forEach((raw, i) => {
      const m = obj(raw);
      if (!m) return;
      const id = str(m.id) ?? `#${i}`;
      const t = time(m.timestamp);
      if (this.seen.has(id) || t === null) return;
      // A message still streaming may be rewritten: only take it once it has tokens or is a user turn.
      if (m.type === "gemini" && !obj(m.tokens)) return;
      this.seen.add(id);
      if (m.type === "user") {
        sink.event({ kind: "user_prompt", t, text: oneLine(str(m.content) ?? "") });
        return;
      }
      if (m.type === "error") {
        sink.event({ kind: "api_error", t, status: null, message: oneLine(str(m.content) ?? "error"), dedupeKey: null });
        return;
      }
      if (m.type !== "gemini") return;
      const model = str(m.model);
      if (model) sink.meta({ model });
      const tk = obj(m.tokens)!;
      const input = num(tk.input);
      const cached = Math.min(input, num(tk.cached));
      const thoughts = num(tk.thoughts);
      sink.event({
        kind: "request",
        t,
        model,
        dedupeKey: null,
        usage: { input: input - cached, output: num(tk.output) + thoughts, reasoning: thoughts, cacheWrite5m: 0, cacheWrite1h: 0, cacheRead: cached },
        reportedUsd: null,
      });
      for (const c of Array.isArray(m.toolCalls) ? m.toolCalls : []) {
        const call = obj(c);
        if (!call) continue;
        const name = str(call.name) ?? "tool";
        const args = obj(call.args) ?? {};
        const ct = time(call.timestamp) ?? t;
        const path = str(args.file_path) ?? str(args.absolute_path);
        sink.event({ kind: "tool_call", t: ct, tool: name, summary: oneLine(path ?? str(args.command) ?? "") });
        const ok = call.status === "success";
        sink.event({ kind: "tool_result", t: ct, tool: name, ok, summary: oneLine(str(call.resultDisplay) ?? "") });
        if (ok && path && GEMINI_WRITE_TOOLS.has(name)) sink.event({ kind: "write", t: ct, path, tool: name });
      }
      const content = str(m.content);
      if (content) sink.event({ kind: "assistant_text", t, text: oneLine(content) });
    });
  }
}

export const geminiAdapter: Adapter = {
  provider: "gemini",
  async listFiles(env) {
    const dir = geminiDir(env);
    if (!dir) return [];
    const out: string[] = [];
    const tmp = join(dir, "tmp");
    let projects;
    try {
      projects = await readdir(tmp, { withFileTypes: true });
    } catch {
      return out;
    }
    for (const p of projects) {
      if (!p.isDirectory()) continue;
      const chats = join(tmp, p.name, "chats");
      try {
        for (const f of await readdir(chats)) if (/^session-.*\.json$/.test(f)) out.push(join(chats, f));
      } catch {
        /* no chats yet */
      }
    }
    return out;
  },
  initialMeta: () => ({}),
  newParser: () => new GeminiParser(),
};
