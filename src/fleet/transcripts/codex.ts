import { readdir } from "node:fs/promises";
import { isAbsolute, join, resolve } from "node:path";
import type { Adapter, FileParser, ParseSink } from "./adapter.js";
import { num, obj, oneLine, str, time, parseRecord } from "./parse-util.js";

/** `CODEX_HOME`, else `~/.codex`. */
export function codexHome(env: NodeJS.ProcessEnv): string | null {
  if (env.CODEX_HOME) return env.CODEX_HOME;
  return env.HOME ? join(env.HOME, ".codex") : null;
}

/** Files named in an apply_patch body: Add/Update/Delete File and Move to, relative to the session cwd. */
export function patchedFiles(patch: string): string[] {
  const out: string[] = [];
  for (const m of patch.matchAll(/^\*\*\* (?:Add File|Update File|Delete File|Move to): (.+)$/gm)) out.push(m[1]!.trim());
  return out;
}

class CodexParser implements FileParser {
  private cwd: string | null = null;
  private lastTotal = -1;
  private readonly calls = new Map<string, string>();

  line(text: string, sink: ParseSink): void {
    const d = parseRecord(text, sink);
    if (!d) return;
    const t = time(d.timestamp);
    const p = obj(d.payload);
    if (!p || t === null) return;
    if (d.type === "session_meta") {
      if (typeof p.cwd === "string") this.setCwd(p.cwd, sink);
      if (typeof p.id === "string") sink.meta({ sessionId: p.id });
      return;
    }
    if (d.type === "turn_context") {
      if (typeof p.cwd === "string") this.setCwd(p.cwd, sink);
      if (typeof p.model === "string") sink.meta({ model: p.model });
      return;
    }
    if (d.type === "event_msg") return this.event(p, t, sink);
    if (d.type === "response_item") return this.item(p, t, sink);
  }

  private setCwd(cwd: string, sink: ParseSink): void {
    this.cwd = cwd;
    sink.meta({ cwd });
  }

  private event(p: Record<string, unknown>, t: number, sink: ParseSink): void {
    switch (p.type) {
      case "token_count": {
        const rl = obj(p.rate_limits);
        if (rl) {
          let five: number | null = null;
          let week: number | null = null;
          for (const w of [obj(rl.primary), obj(rl.secondary)]) {
            if (!w) continue;
            const minutes = num(w.window_minutes);
            if (minutes === 300) five = num(w.used_percent);
            else if (minutes === 10080) week = num(w.used_percent);
          }
          sink.event({ kind: "rate_limits", t, fiveHourPct: five, weeklyPct: week });
        }
        const info = obj(p.info);
        const last = obj(info?.last_token_usage);
        const total = obj(info?.total_token_usage);
        if (!info || !last) return;
        // Codex repeats a token_count when nothing changed: the cumulative total tells.
        const cumulative = total ? num(total.total_tokens) : -1;
        if (cumulative >= 0 && cumulative === this.lastTotal) return;
        this.lastTotal = cumulative;
        const input = num(last.input_tokens);
        const cached = Math.min(input, num(last.cached_input_tokens));
        sink.event({
          kind: "request",
          t,
          model: null,
          dedupeKey: null,
          usage: { input: input - cached, output: num(last.output_tokens), reasoning: num(last.reasoning_output_tokens), cacheWrite5m: 0, cacheWrite1h: 0, cacheRead: cached },
          reportedUsd: null,
        });
        const window = num(info.model_context_window);
        sink.event({ kind: "context", t, usedTokens: input, windowTokens: window || null });
        return;
      }
      case "user_message":
        sink.event({ kind: "user_prompt", t, text: oneLine(str(p.message) ?? "") });
        return;
      case "agent_message":
        sink.event({ kind: "assistant_text", t, text: oneLine(str(p.message) ?? "") });
        return;
      case "task_complete":
        sink.event({ kind: "turn_end", t, durationMs: null });
        sink.event({ kind: "waiting", t, reason: "turn ended; waiting for the next prompt" });
        return;
      case "exec_approval_request":
      case "apply_patch_approval_request":
        sink.event({ kind: "waiting", t, reason: "waiting for approval" });
        return;
      case "error":
      case "stream_error": {
        const message = str(p.message) ?? "error";
        const m = /\b([45]\d\d)\b/.exec(message);
        sink.event({ kind: "api_error", t, status: m ? Number(m[1]) : null, message: oneLine(message), dedupeKey: null });
        return;
      }
    }
  }

  private item(p: Record<string, unknown>, t: number, sink: ParseSink): void {
    const type = p.type;
    if (type === "function_call" || type === "custom_tool_call" || type === "local_shell_call") {
      const name = str(p.name) ?? "shell";
      const callId = str(p.call_id) ?? "";
      this.calls.set(callId, name);
      if (this.calls.size > 10_000) this.calls.delete(this.calls.keys().next().value!);
      const input = str(p.input) ?? str(p.arguments) ?? "";
      let summary = input;
      try {
        const args = obj(JSON.parse(input));
        const cmd = args?.command;
        summary = Array.isArray(cmd) ? cmd.join(" ") : (str(cmd) ?? input);
      } catch {
        /* free-form input (apply_patch) */
      }
      const files = patchedFiles(input);
      sink.event({ kind: "tool_call", t, tool: name, summary: oneLine(files.length ? files.join(", ") : summary) });
      for (const f of files) {
        const path = isAbsolute(f) ? f : this.cwd ? resolve(this.cwd, f) : null;
        if (path) sink.event({ kind: "write", t, path, tool: name });
      }
      return;
    }
    if (type === "function_call_output" || type === "custom_tool_call_output") {
      const callId = str(p.call_id) ?? "";
      const raw = str(p.output) ?? "";
      let ok = true;
      let text = raw;
      try {
        const out = obj(JSON.parse(raw));
        const code = obj(out?.metadata)?.exit_code;
        if (typeof code === "number") ok = code === 0;
        text = str(out?.output) ?? raw;
      } catch {
        /* plain text output */
      }
      sink.event({ kind: "tool_result", t, tool: this.calls.get(callId) ?? null, ok, summary: oneLine(text) });
    }
  }
}

async function walk(dir: string, depth: number, out: string[]): Promise<void> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) {
    if (e.isDirectory() && depth > 0) await walk(join(dir, e.name), depth - 1, out);
    else if (e.isFile() && /^rollout-.*\.jsonl$/.test(e.name)) out.push(join(dir, e.name));
  }
}

export const codexAdapter: Adapter = {
  provider: "codex",
  async listFiles(env) {
    const home = codexHome(env);
    if (!home) return [];
    const out: string[] = [];
    await walk(join(home, "sessions"), 3, out);
    return out;
  },
  initialMeta(path) {
    const m = /rollout-[0-9T:-]+-([0-9a-f]{8}-[0-9a-f-]{27})\.jsonl$/.exec(path);
    return m ? { sessionId: m[1] } : {};
  },
  newParser: () => new CodexParser(),
};
