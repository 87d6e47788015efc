import { derive, listDir } from "./listing.js";
import { isAbsolute, join, resolve } from "node:path";
import type { Adapter, FileParser, ListScope, ParseSink } from "./adapter.js";
import { intern, num, obj, oneLine, own, str, time, parseRecord } from "./parse-util.js";

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

interface Cumulative {
  input: number;
  cached: number;
  output: number;
  reasoning: number;
  total: number;
}

function cumulative(u: Record<string, unknown>): Cumulative {
  return { input: num(u.input_tokens), cached: num(u.cached_input_tokens), output: num(u.output_tokens), reasoning: num(u.reasoning_output_tokens), total: num(u.total_tokens) };
}

class CodexParser implements FileParser {
  readonly jsonLines = true;
  private cwd: string | null = null;
  /** The first `session_meta` is this file's own; later ones are a parent's history replayed by a fork. */
  private metaSeen = false;
  private last: Cumulative | null = null;
  private readonly calls = new Map<string, string>();

  line(text: string, sink: ParseSink): void {
    const d = parseRecord(text, sink);
    if (!d) return;
    const t = time(d.timestamp);
    const p = obj(d.payload);
    if (!p || t === null) return;
    if (d.type === "session_meta") {
      if (this.metaSeen) return;
      this.metaSeen = true;
      if (typeof p.cwd === "string") this.setCwd(p.cwd, sink);
      if (typeof p.id === "string") sink.meta({ sessionId: own(p.id) });
      if (typeof p.forked_from_id === "string") sink.meta({ forkedFromSessionId: own(p.forked_from_id) });
      return;
    }
    if (d.type === "turn_context") {
      if (typeof p.cwd === "string") this.setCwd(p.cwd, sink);
      if (typeof p.model === "string") sink.meta({ model: intern(p.model) });
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
        const lastUsage = obj(info?.last_token_usage);
        const totalUsage = obj(info?.total_token_usage);
        if (!info || (!lastUsage && !totalUsage)) return;
        // A response is identified by the session's cumulative usage after it: Codex repeats a
        // token_count when nothing changed, and a fork replays its parent's token_counts verbatim;
        // both carry a cumulative total already counted.
        const cum = totalUsage ? cumulative(totalUsage) : null;
        let input: number;
        let cached: number;
        let output: number;
        let reasoning: number;
        if (lastUsage) {
          const l = cumulative(lastUsage);
          ({ input, cached, output, reasoning } = l);
        } else {
          // only cumulative totals: the response is the difference from the previous one
          const prev = this.last ?? { input: 0, cached: 0, output: 0, reasoning: 0, total: 0 };
          input = Math.max(0, cum!.input - prev.input);
          cached = Math.max(0, cum!.cached - prev.cached);
          output = Math.max(0, cum!.output - prev.output);
          reasoning = Math.max(0, cum!.reasoning - prev.reasoning);
        }
        if (cum) {
          if (this.last && cum.total === this.last.total && cum.input === this.last.input && cum.output === this.last.output) return;
          this.last = cum;
        }
        if (input + output === 0) return;
        cached = Math.min(input, cached);
        sink.event({
          kind: "request",
          t,
          model: null,
          dedupeKey: cum ? `codex:${cum.input}:${cum.cached}:${cum.output}:${cum.reasoning}:${cum.total}` : null,
          usage: { input: input - cached, output, reasoning, cacheWrite5m: 0, cacheWrite1h: 0, cacheRead: cached },
          reportedUsd: null,
        });
        const window = num(info.model_context_window);
        sink.event({ kind: "context", t, usedTokens: input, windowTokens: window || null });
        return;
      }
      case "item_completed": {
        // 0.16x: the prompt and the answer are completed items
        const item = obj(p.item);
        const text = item ? textOf(item.content) ?? str(item.text) : null;
        if (item?.type === "UserMessage" && text !== null) sink.event({ kind: "user_prompt", t, text: oneLine(text) });
        else if (item?.type === "AgentMessage" && text !== null) sink.event({ kind: "assistant_text", t, text: oneLine(text) });
        return;
      }
      case "turn_aborted":
        sink.event({ kind: "turn_end", t, durationMs: null });
        sink.event({ kind: "waiting", t, reason: "turn interrupted; waiting for the next prompt" });
        return;
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
      const name = intern(str(p.name) ?? "shell");
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
        if (path) sink.event({ kind: "write", t, path: own(path), tool: name });
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

/** Text of a content list (`[{type: "text", text}]`) or a string. */
function textOf(content: unknown): string | null {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return null;
  const parts = content.map((c) => str(obj(c)?.text)).filter((x): x is string => x !== null);
  return parts.length ? parts.join(" ") : null;
}

/** One day: the date folders are local dates, so a live session's folder may be a day before `since` in UTC. */
const DAY_MS = 24 * 60 * 60 * 1000;

/** Rollouts under `sessions/YYYY/MM/DD/` (only folders dated on or after `since`, when given). */
async function walk(dir: string, depth: number, out: string[], since: number | null, prefix = ""): Promise<void> {
  const listing = await listDir(dir);
  if (depth > 0) {
    for (const name of listing.dirs) {
      const path = prefix ? `${prefix}-${name}` : name; // "2026", "2026-11", "2026-11-25"
      if (since !== null && /^\d{4}(-\d\d){0,2}$/.test(path)) {
        const end = folderEnd(path);
        if (end !== null && end < since - DAY_MS) continue;
      }
      await walk(join(dir, name), depth - 1, out, since, path);
    }
  }
  for (const p of derive(listing, "codex", () => listing.files.filter((f) => /^rollout-.*\.jsonl$/.test(f)).map((f) => join(dir, f)))) out.push(p);
}

/** The end (ms, UTC) of the period a `YYYY[-MM[-DD]]` folder covers. */
function folderEnd(path: string): number | null {
  const [y, m, d] = path.split("-").map(Number) as [number, number?, number?];
  if (m === undefined) return Date.UTC(y + 1, 0, 1);
  if (d === undefined) return Date.UTC(y, m, 1);
  return Date.UTC(y, m - 1, d + 1);
}

export const codexAdapter: Adapter = {
  provider: "codex",
  async listFiles(env, _extra, scope?: ListScope) {
    const home = codexHome(env);
    if (!home) return [];
    const out: string[] = [];
    await walk(join(home, "sessions"), 3, out, scope ? scope.since : null);
    // archived sessions are history, never a live process's
    if (!scope) await walk(join(home, "archived_sessions"), 0, out, null);
    return out;
  },
  initialMeta(path) {
    const m = /rollout-[0-9T:-]+-([0-9a-f]{8}-[0-9a-f-]{27})\.jsonl$/.exec(path);
    return m ? { sessionId: m[1] } : {};
  },
  newParser: () => new CodexParser(),
};
