import { derive, listDir } from "./listing.js";
import { dirname, join } from "node:path";
import type { Adapter, FileParser, LiveProcess, LiveSession, ParseSink } from "./adapter.js";
import { intern, obj, oneLine, own, str, time, parseRecord } from "./parse-util.js";

/** Copilot CLI's home: `COPILOT_HOME`, else `~/.copilot`. */
export function copilotHome(env: NodeJS.ProcessEnv): string | null {
  if (env.COPILOT_HOME) return env.COPILOT_HOME;
  return env.HOME ? join(env.HOME, ".copilot") : null;
}

/**
 * Copilot CLI's session log, `session-state/<session id>/events.jsonl`: one event per line
 * (`session.start`, `user.message`, `assistant.turn_end`, `session.error`, `session.shutdown`,
 * as 1.0 writes them; `assistant.message` and `tool.execution_*` as its own
 * `schemas/session-events.schema.json` defines them). Copilot does not write per-request token
 * usage to disk (its `assistant.usage` events are ephemeral), so a Copilot session has prompts,
 * answers, tools, errors and turns but no tokens or cost.
 */
class CopilotParser implements FileParser {
  readonly jsonLines = true;
  private readonly tools = new Map<string, string>();

  line(text: string, sink: ParseSink): void {
    const d = parseRecord(text, sink);
    if (!d) return;
    const t = time(d.timestamp);
    const data = obj(d.data);
    if (t === null || !data || d.ephemeral === true) return;
    switch (d.type) {
      case "session.start": {
        if (typeof data.sessionId === "string") sink.meta({ sessionId: own(data.sessionId) });
        const cwd = str(obj(data.context)?.cwd);
        if (cwd) sink.meta({ cwd: own(cwd) });
        if (typeof data.selectedModel === "string") sink.meta({ model: intern(data.selectedModel) });
        return;
      }
      case "session.model_change":
        if (typeof data.newModel === "string") sink.meta({ model: intern(data.newModel) });
        return;
      case "user.message":
        sink.event({ kind: "user_prompt", t, text: oneLine(str(data.content) ?? "") });
        return;
      case "assistant.message": {
        const content = str(data.content);
        if (content) sink.event({ kind: "assistant_text", t, text: oneLine(content) });
        return;
      }
      case "tool.execution_start": {
        const name = intern(str(data.toolName) ?? "tool");
        const id = str(data.toolCallId) ?? "";
        this.tools.set(id, name);
        if (this.tools.size > 10_000) this.tools.delete(this.tools.keys().next().value!);
        const args = obj(data.arguments) ?? {};
        sink.event({ kind: "tool_call", t, tool: name, summary: oneLine(str(args.path) ?? str(args.command) ?? str(data.toolTitle) ?? "") });
        return;
      }
      case "tool.execution_complete": {
        const ok = data.success !== false;
        const err = obj(data.error);
        sink.event({ kind: "tool_result", t, tool: this.tools.get(str(data.toolCallId) ?? "") ?? null, ok, summary: oneLine(str(err?.message) ?? "") });
        return;
      }
      case "session.error": {
        const status = typeof data.statusCode === "number" ? data.statusCode : null;
        sink.event({ kind: "api_error", t, status, message: oneLine(str(data.message) ?? "error"), dedupeKey: typeof d.id === "string" ? `copilot:${d.id}` : null });
        return;
      }
      case "assistant.turn_end":
        sink.event({ kind: "turn_end", t, durationMs: null });
        sink.event({ kind: "waiting", t, reason: "turn ended; waiting for the next prompt" });
        return;
    }
  }
}

/** `session-state/<session id>/inuse.<pid>.hold`: the marker a live Copilot process holds open in its session's folder. */
const HOLD = /\/session-state\/([0-9a-f-]{36})\/inuse\.(\d+)\.hold$/;

/**
 * The session a live Copilot CLI process is in, exactly: Copilot 1.0 marks the session it runs
 * with `session-state/<id>/inuse.<pid>.lock` (the pid as text) and `inuse.<pid>.hold`, which the
 * process (its native child, under the npm wrapper) keeps open, and removes both when it exits.
 * Only a marker held open by a pid of the agent's own tree, named with one of those pids, counts:
 * a marker left behind by a killed process is held by nobody.
 */
export function copilotLiveSession(proc: LiveProcess): LiveSession | null {
  const pids = new Set(proc.pids);
  for (const f of proc.openFiles) {
    const m = HOLD.exec(f);
    if (m && pids.has(Number(m[2]))) return { sessionId: m[1]!, paths: [join(dirname(f), "events.jsonl")] };
  }
  return null;
}

export const copilotAdapter: Adapter = {
  provider: "copilot",
  async listFiles(env) {
    const home = copilotHome(env);
    if (!home) return [];
    const root = join(home, "session-state");
    // one folder per session; its events.jsonl is stat'ed by the store (absent until the first event)
    const listing = await listDir(root);
    return derive(listing, "copilot", () => listing.dirs.filter((d) => /^[0-9a-f-]{36}$/.test(d)).map((d) => join(root, d, "events.jsonl")));
  },
  async liveSession(_pid, _env, _startTime, proc) {
    return copilotLiveSession(proc);
  },
  initialMeta(path) {
    const m = /\/session-state\/([0-9a-f-]{36})\/events\.jsonl$/.exec(path);
    return m ? { sessionId: m[1] } : {};
  },
  newParser: () => new CopilotParser(),
};
