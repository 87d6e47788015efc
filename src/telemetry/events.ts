import type { TokenUsage } from "../fleet/transcripts/types.js";
import { attrs, anyValue, type LogsRequest } from "./otlp.js";

/**
 * Agents' OpenTelemetry log events, normalised: Claude Code (`claude_code.api_request`,
 * `claude_code.api_error`, `claude_code.tool_result`), Gemini CLI (`gemini_cli.api_response`,
 * `gemini_cli.api_error`, `gemini_cli.tool_call`) and Codex (`codex.api_request`,
 * `codex.sse_event` with `response.completed`). Others are counted and ignored.
 *
 * Kinds: `request` is one model request (its duration is the request latency; Claude and
 * Gemini also carry its usage); `usage` is the usage of a request already counted (Codex
 * reports the HTTP request and the completed response as two events); `api_error` is a
 * request that failed for good (Claude emits it after its retries, so its duration is not
 * a request latency); `tool_result` a tool run.
 */
export interface TelemetryEvent {
  provider: string;
  sessionId: string | null;
  /** `process.pid` from the resource, when the SDK reports it. */
  pid: number | null;
  /** ms since epoch. */
  t: number;
  kind: "request" | "usage" | "api_error" | "tool_result";
  model: string | null;
  latencyMs: number | null;
  usage: TokenUsage | null;
  usd: number | null;
  status: number | null;
  ok: boolean;
  tool: string | null;
}

const n = (v: unknown): number | null => {
  const x = typeof v === "string" ? Number(v) : v;
  return typeof x === "number" && Number.isFinite(x) ? x : null;
};
const s = (v: unknown): string | null => (typeof v === "string" && v ? v : null);

function nanosToMs(v: string | number | undefined): number | null {
  if (v === undefined) return null;
  const x = Number(v);
  return Number.isFinite(x) && x > 0 ? Math.floor(x / 1e6) : null;
}

function usageOf(a: Record<string, unknown>, keys: { in: string[]; out: string[]; cacheRead: string[]; cacheWrite: string[]; reasoning: string[] }): TokenUsage | null {
  const pick = (ks: string[]) => ks.map((k) => n(a[k])).find((x) => x !== null) ?? null;
  const input = pick(keys.in);
  const output = pick(keys.out);
  if (input === null && output === null) return null;
  const cacheRead = pick(keys.cacheRead) ?? 0;
  return {
    input: Math.max(0, (input ?? 0) - (keys.in.includes("input_token_count") ? cacheRead : 0)),
    output: output ?? 0,
    reasoning: pick(keys.reasoning) ?? 0,
    cacheWrite5m: pick(keys.cacheWrite) ?? 0,
    cacheWrite1h: 0,
    cacheRead,
  };
}

/** One log record to an event, or null when it is not one we use. */
/** The agent an event comes from: its name's prefix says it (`claude_code.api_request`), else the resource's `service.name`. */
export function providerOf(name: string, service: string): string | null {
  const prefix = /^(claude_code|gemini_cli|codex)\./.exec(name)?.[1];
  if (prefix) return prefix === "claude_code" ? "claude-code" : prefix === "gemini_cli" ? "gemini" : "codex";
  return /claude/i.test(service) ? "claude-code" : /gemini/i.test(service) ? "gemini" : /codex/i.test(service) ? "codex" : null;
}

export function toEvent(resource: Record<string, unknown>, a: Record<string, unknown>, name: string, t: number): TelemetryEvent | null {
  const provider = providerOf(name, s(resource["service.name"]) ?? "");
  if (!provider) return null;
  const base = {
    provider,
    sessionId: s(a["session.id"]) ?? s(a["conversation.id"]) ?? s(resource["session.id"]),
    pid: n(resource["process.pid"]),
    t,
    model: s(a.model) ?? s(a["gen_ai.request.model"]) ?? null,
    latencyMs: n(a.duration_ms),
    status: n(a.status_code) ?? n(a["http.response.status_code"]),
    tool: s(a.tool_name) ?? s(a.function_name),
  };
  const event = name.replace(/^(claude_code|gemini_cli|codex)\./, "");
  switch (event) {
    case "api_request": {
      if (provider === "codex") {
        // the HTTP request: its duration is the latency; the usage comes with sse_event response.completed
        const st = base.status;
        if (st !== null && st >= 400) return { ...base, kind: "api_error", latencyMs: null, usage: null, usd: null, ok: false };
        return { ...base, kind: "request", usage: null, usd: null, ok: true };
      }
      const usage = usageOf(a, { in: ["input_tokens"], out: ["output_tokens"], cacheRead: ["cache_read_tokens"], cacheWrite: ["cache_creation_tokens"], reasoning: [] });
      return { ...base, kind: "request", usage, usd: n(a.cost_usd), ok: true };
    }
    case "api_response": {
      const usage = usageOf(a, { in: ["input_token_count"], out: ["output_token_count"], cacheRead: ["cached_content_token_count"], cacheWrite: [], reasoning: ["thoughts_token_count"] });
      // Gemini bills thoughts as output but reports them apart from output_token_count
      if (usage) usage.output += usage.reasoning;
      const st = base.status;
      if (st !== null && st >= 400) return { ...base, kind: "api_error", latencyMs: null, usage: null, usd: null, ok: false };
      return { ...base, kind: "request", usage, usd: null, ok: true };
    }
    case "api_error":
      return { ...base, kind: "api_error", latencyMs: null, usage: null, usd: null, ok: false };
    case "sse_event": {
      if (a["event.kind"] !== "response.completed") return null;
      const usage = usageOf(a, { in: ["input_token_count"], out: ["output_token_count"], cacheRead: ["cached_token_count"], cacheWrite: [], reasoning: ["reasoning_token_count"] });
      return { ...base, kind: "usage", latencyMs: null, usage, usd: null, ok: true };
    }
    case "tool_result":
    case "tool_call":
    case "tool_decision":
      if (event === "tool_decision") return null;
      return { ...base, kind: "tool_result", usage: null, usd: null, ok: a.success !== false && a.success !== "false" };
    default:
      return null;
  }
}

const list = <T>(v: T[] | undefined): T[] => (Array.isArray(v) ? v : []);

/** Every usable event of a logs export request, plus how many records it held. */
export function logsToEvents(req: LogsRequest): { events: TelemetryEvent[]; records: number } {
  const events: TelemetryEvent[] = [];
  let records = 0;
  for (const rl of list(req.resourceLogs)) {
    if (!rl || typeof rl !== "object") continue;
    const resource = attrs(rl.resource?.attributes);
    for (const sl of list(rl.scopeLogs)) {
      if (!sl || typeof sl !== "object") continue;
      for (const r of list(sl.logRecords)) {
        if (!r || typeof r !== "object") continue;
        records++;
        const a = attrs(r.attributes);
        const body = anyValue(r.body);
        const name = s(a["event.name"]) ?? s(r.eventName) ?? (typeof body === "string" ? body : "");
        const full = name.includes(".") ? name : `${s(resource["service.name"])?.replace(/-/g, "_") ?? ""}.${name}`;
        const t = nanosToMs(r.timeUnixNano) ?? nanosToMs(r.observedTimeUnixNano) ?? (s(a["event.timestamp"]) ? Date.parse(a["event.timestamp"] as string) : Date.now());
        const e = toEvent(resource, a, full, t);
        if (e) events.push(e);
      }
    }
  }
  return { events, records };
}
