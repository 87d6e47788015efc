import { access } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { Adapter, FileParser, ParseSink } from "./adapter.js";
import { oneLine } from "./parse-util.js";

export const AIDER_HISTORY = ".aider.chat.history.md";

/** `2.3k` → 2300, `1.1M` → 1100000. */
export function aiderNumber(text: string): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)([kKmM]?)$/.exec(text.trim().replace(/,/g, ""));
  if (!m) return 0;
  const mult = m[2] === "k" || m[2] === "K" ? 1e3 : m[2] === "m" || m[2] === "M" ? 1e6 : 1;
  return Math.round(Number(m[1]) * mult);
}

/**
 * Aider's Markdown chat history. It carries no per-message times: records already in the
 * file when first read are dated at the session start, records appended later at the
 * moment we read them (our refresh cadence bounds the error).
 */
class AiderParser implements FileParser {
  private sessionStart: number | null = null;
  private readonly root: string;
  constructor(path: string) {
    this.root = path.slice(0, -AIDER_HISTORY.length - 1) || "/";
  }

  line(text: string, sink: ParseSink): void {
    const at = () => (sink.backlog ? (this.sessionStart ?? sink.readAt) : sink.readAt);
    const started = /^# aider chat started at (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)/.exec(text);
    if (started) {
      const t = Date.parse(started[1]!.replace(" ", "T")); // local time, as Aider writes it
      this.sessionStart = Number.isFinite(t) ? t : null;
      sink.meta({ cwd: this.root });
      return;
    }
    if (text.startsWith("#### ")) {
      sink.event({ kind: "user_prompt", t: at(), text: oneLine(text.slice(5)) });
      return;
    }
    if (!text.startsWith("> ")) return;
    const body = text.slice(2).trim();
    const model = /^Main model: (\S+)/.exec(body);
    if (model) {
      sink.meta({ model: model[1]! });
      return;
    }
    const tokens = /^Tokens: (.+?)\.\s+Cost: \$([0-9.]+) message, \$([0-9.]+) session\.?$/.exec(body);
    if (tokens) {
      const usage = { input: 0, output: 0, reasoning: 0, cacheWrite5m: 0, cacheWrite1h: 0, cacheRead: 0 };
      for (const part of tokens[1]!.split(",")) {
        const m = /^\s*([0-9.,]+[kKmM]?) (sent|received|cache write|cache hit)\s*$/.exec(part);
        if (!m) continue;
        const n = aiderNumber(m[1]!);
        if (m[2] === "sent") usage.input += n;
        else if (m[2] === "received") usage.output += n;
        else if (m[2] === "cache write") usage.cacheWrite5m += n;
        else usage.cacheRead += n;
      }
      const t = at();
      sink.event({ kind: "request", t, model: null, dedupeKey: null, usage, reportedUsd: Number(tokens[2]) });
      sink.event({ kind: "turn_end", t, durationMs: null });
      sink.meta({ reportedSessionUsd: Number(tokens[3]) });
      return;
    }
    const applied = /^Applied edit to (.+)$/.exec(body);
    if (applied) {
      const t = at();
      sink.event({ kind: "write", t, path: resolve(this.root, applied[1]!.trim()), tool: "aider-edit" });
      return;
    }
    if (/^(litellm\.)?\w*(Error|Exception)\b|API error|rate limit/i.test(body)) {
      const m = /\b([45]\d\d)\b/.exec(body);
      sink.event({ kind: "api_error", t: at(), status: m ? Number(m[1]) : null, message: oneLine(body), dedupeKey: null });
    }
  }
}

export const aiderAdapter: Adapter = {
  provider: "aider",
  async listFiles(_env, extraRoots) {
    const out: string[] = [];
    for (const root of extraRoots) {
      const p = join(root, AIDER_HISTORY);
      try {
        await access(p);
        out.push(p);
      } catch {
        /* no history in this repo */
      }
    }
    return out;
  },
  initialMeta: (path) => ({ cwd: path.slice(0, -AIDER_HISTORY.length - 1) || "/" }),
  newParser: (path) => new AiderParser(path),
};
