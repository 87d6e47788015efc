import { basename, dirname, join } from "node:path";
import type { Adapter, FileParser, ListScope, ParseSink } from "./adapter.js";
import { geminiProjectHash } from "./paths.js";
import { intern, num, obj, oneLine, own, str, time, parseRecord } from "./parse-util.js";
import { readRegularFile } from "./reader.js";
import { derive, listDir } from "./listing.js";

/** Gemini CLI's dir: `GEMINI_DIR`, else `~/.gemini`. */
export function geminiDir(env: NodeJS.ProcessEnv): string | null {
  if (env.GEMINI_DIR) return env.GEMINI_DIR;
  return env.HOME ? join(env.HOME, ".gemini") : null;
}

const GEMINI_WRITE_TOOLS = new Set(["write_file", "replace", "edit"]);
/** Message ids remembered per chat (a chat longer than this re-counts nothing: ids older than the last rewrite are not replayed). */
const MAX_IDS_PER_CHAT = 100_000;
/** `.project_root` and `projects.json` are a path and a small map: anything larger is not Gemini's. */
const MAX_SMALL_FILE = 1024 * 1024;

/** Project folder (`tmp/<name>`) → the working directory it belongs to, from its `.project_root`. Bounded. */
const projectRoots = new Map<string, string | null>();

async function projectRoot(dir: string): Promise<string | null> {
  if (projectRoots.has(dir)) return projectRoots.get(dir)!;
  let root: string | null = null;
  try {
    const r = await readRegularFile(join(dir, ".project_root"), MAX_SMALL_FILE);
    if (r && r !== "too-large") root = r.text.trim() || null;
  } catch {
    root = null;
  }
  if (projectRoots.size > 10_000) projectRoots.clear();
  projectRoots.set(dir, root);
  return root;
}

/** `projects.json` (0.60+): working directory → short project name (the folder under `tmp/`). */
async function projectNames(dir: string): Promise<Record<string, string>> {
  try {
    const r = await readRegularFile(join(dir, "projects.json"), MAX_SMALL_FILE);
    if (!r || r === "too-large") return {};
    const d = obj(JSON.parse(r.text));
    const p = obj(d?.projects);
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(p ?? {})) if (typeof v === "string") out[k] = v;
    return out;
  } catch {
    return {};
  }
}

function contentText(c: unknown): string {
  if (typeof c === "string") return c;
  if (Array.isArray(c)) return c.map((p) => str(obj(p)?.text) ?? "").join("");
  return "";
}

/**
 * One chat's messages, whether they come as a whole JSON file rewritten in place (before
 * 0.60) or as JSON Lines (0.60+: a header, message records appended — a message is appended
 * again when it changes, e.g. once its tokens are known — and `{"$set": {...}}` updates that
 * may replace the whole message list). Each message counts once, by its id, once it is final
 * (a Gemini reply once it has tokens).
 */
class GeminiChat {
  private readonly seen = new Set<string>();

  message(m: Record<string, unknown>, i: number, sink: ParseSink): void {
    const id = str(m.id) ?? `#${i}`;
    const t = time(m.timestamp);
    if (this.seen.has(id) || t === null) return;
    // A message still streaming may be rewritten: only take a reply once it has tokens.
    if (m.type === "gemini" && !obj(m.tokens)) return;
    this.seen.add(id);
    if (this.seen.size > MAX_IDS_PER_CHAT) this.seen.delete(this.seen.values().next().value!);
    if (m.type === "user") {
      const text = contentText(m.content);
      if (!/^\s*<session_context>/.test(text)) sink.event({ kind: "user_prompt", t, text: oneLine(text) });
      return;
    }
    if (m.type === "error") {
      sink.event({ kind: "api_error", t, status: null, message: oneLine(contentText(m.content) || "error"), dedupeKey: `gemini:${id}` });
      return;
    }
    if (m.type !== "gemini") return;
    const model = str(m.model);
    if (model) sink.meta({ model: intern(model) });
    const tk = obj(m.tokens)!;
    const input = num(tk.input);
    const cached = Math.min(input, num(tk.cached));
    const thoughts = num(tk.thoughts);
    sink.event({
      kind: "request",
      t,
      model: model ? intern(model) : null,
      dedupeKey: `gemini:${id}`,
      usage: { input: input - cached, output: num(tk.output) + thoughts, reasoning: thoughts, cacheWrite5m: 0, cacheWrite1h: 0, cacheRead: cached },
      reportedUsd: null,
    });
    for (const c of Array.isArray(m.toolCalls) ? m.toolCalls : []) {
      const call = obj(c);
      if (!call) continue;
      const name = intern(str(call.name) ?? "tool");
      const args = obj(call.args) ?? {};
      const ct = time(call.timestamp) ?? t;
      const path = str(args.file_path) ?? str(args.absolute_path);
      sink.event({ kind: "tool_call", t: ct, tool: name, summary: oneLine(path ?? str(args.command) ?? "") });
      const ok = call.status === "success";
      sink.event({ kind: "tool_result", t: ct, tool: name, ok, summary: oneLine(str(call.resultDisplay) ?? "") });
      if (ok && path && GEMINI_WRITE_TOOLS.has(name)) sink.event({ kind: "write", t: ct, path: own(path), tool: name });
    }
    const content = contentText(m.content);
    if (content) sink.event({ kind: "assistant_text", t, text: oneLine(content) });
  }
}

/** Before 0.60: the whole chat is one JSON document rewritten in place. */
class GeminiJsonParser implements FileParser {
  private readonly chat = new GeminiChat();
  whole(text: string, sink: ParseSink): void {
    const d = parseRecord(text, sink);
    if (!d) return;
    if (typeof d.sessionId === "string") sink.meta({ sessionId: own(d.sessionId) });
    const messages = Array.isArray(d.messages) ? d.messages : [];
    messages.forEach((raw, i) => {
      const m = obj(raw);
      if (m) this.chat.message(m, i, sink);
    });
  }
}

/** 0.60+: JSON Lines. */
class GeminiJsonlParser implements FileParser {
  readonly jsonLines = true;
  private readonly chat = new GeminiChat();
  private n = 0;
  line(text: string, sink: ParseSink): void {
    const d = parseRecord(text, sink);
    if (!d) return;
    if (typeof d.sessionId === "string" && typeof d.projectHash === "string") {
      sink.meta({ sessionId: own(d.sessionId) });
      return;
    }
    if (typeof d.id === "string") {
      this.chat.message(d, this.n++, sink);
      return;
    }
    const set = obj(d.$set);
    if (set && Array.isArray(set.messages)) {
      for (const raw of set.messages) {
        const m = obj(raw);
        if (m) this.chat.message(m, this.n++, sink);
      }
    }
  }
}

async function chats(dir: string, out: string[]): Promise<void> {
  try {
    const listing = await listDir(dir);
    for (const p of derive(listing, "gemini", () => listing.files.filter((f) => /^session-.*\.jsonl?$/.test(f)).map((f) => join(dir, f)))) out.push(p);
  } catch {
    /* no chats yet */
  }
}

export const geminiAdapter: Adapter = {
  provider: "gemini",
  async listFiles(env, _extra, scope?: ListScope) {
    const dir = geminiDir(env);
    if (!dir) return [];
    const out: string[] = [];
    const tmp = join(dir, "tmp");
    let names: string[];
    if (scope?.cwd) {
      // the project folder of a working directory: its short name (0.60+) or the hash of its path (before)
      const byCwd = await projectNames(dir);
      names = [...new Set([byCwd[scope.cwd], basename(scope.cwd), geminiProjectHash(scope.cwd)].filter((x): x is string => !!x))];
    } else {
      names = [...(await listDir(tmp)).dirs];
    }
    for (const name of names) {
      const before = out.length;
      await chats(join(tmp, name, "chats"), out);
      if (out.length > before) await projectRoot(join(tmp, name));
    }
    return out;
  },
  initialMeta(path) {
    const root = projectRoots.get(dirname(dirname(path)));
    return root ? { cwd: root } : {};
  },
  newParser: (path) => (path.endsWith(".jsonl") ? new GeminiJsonlParser() : new GeminiJsonParser()),
};
