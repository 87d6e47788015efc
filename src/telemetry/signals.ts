import type { TranscriptSignals } from "../fleet/model.js";
import { transcriptSignals, DEFAULT_WINDOW_MS, type SignalOptions } from "../fleet/signals.js";
import type { SessionMeta, SessionTotals } from "../fleet/transcripts/store.js";
import type { TranscriptEvent } from "../fleet/transcripts/types.js";
import type { TelemetryEvent } from "./events.js";

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** p50/p95 of the exact request latencies the agent reported, over the trailing window (else the hour). */
export function requestLatency(events: readonly TelemetryEvent[], now: number, windowMs = DEFAULT_WINDOW_MS): { p50: number; p95: number } | null {
  const pick = (from: number) =>
    events.filter((e) => e.kind === "request" && e.latencyMs !== null && e.t >= from).map((e) => e.latencyMs!).sort((a, b) => a - b);
  let l = pick(now - windowMs);
  if (!l.length) l = pick(now - 60 * 60 * 1000);
  return l.length ? { p50: percentile(l, 50), p95: percentile(l, 95) } : null;
}

/**
 * Telemetry events in the transcript event vocabulary, so one signal function serves both.
 * A `usage` event (Codex's completed response) is folded into the request it belongs to
 * (the latest one of its session without usage), so a request is counted once.
 */
export function asTranscriptEvents(events: readonly TelemetryEvent[]): TranscriptEvent[] {
  const out: TranscriptEvent[] = [];
  const open = new Map<string | null, Extract<TranscriptEvent, { kind: "request" }>>();
  const none = () => ({ input: 0, output: 0, reasoning: 0, cacheWrite5m: 0, cacheWrite1h: 0, cacheRead: 0 });
  for (const e of events) {
    if (e.kind === "request") {
      const r: Extract<TranscriptEvent, { kind: "request" }> = { kind: "request", t: e.t, model: e.model, dedupeKey: null, usage: e.usage ?? none(), reportedUsd: e.usd };
      out.push(r);
      if (!e.usage) open.set(e.sessionId, r);
    } else if (e.kind === "usage") {
      const r = open.get(e.sessionId);
      if (r && e.usage) {
        r.usage = e.usage;
        r.model ??= e.model;
        open.delete(e.sessionId);
      } else if (e.usage) out.push({ kind: "request", t: e.t, model: e.model, dedupeKey: null, usage: e.usage, reportedUsd: e.usd });
    } else if (e.kind === "api_error") {
      out.push({ kind: "api_error", t: e.t, status: e.status, message: "api error (telemetry)", dedupeKey: null });
    } else {
      out.push({ kind: "tool_result", t: e.t, tool: e.tool, ok: e.ok, summary: "" });
    }
  }
  return out;
}

/**
 * Merge telemetry into an agent's signals. A request is never counted twice: when the
 * agent has a transcript, tokens, cost and errors come from the transcript and telemetry
 * adds only what the transcript lacks (exact request latency); without a transcript,
 * every signal comes from telemetry.
 */
export function mergeTelemetry(transcript: TranscriptSignals | null, tel: readonly TelemetryEvent[], opts: SignalOptions, totals?: SessionTotals): TranscriptSignals | null {
  if (!tel.length) return transcript;
  const latency = requestLatency(tel, opts.now, opts.windowMs);
  const telModel = [...tel].reverse().find((e) => e.model)?.model ?? null;
  if (transcript) return { ...transcript, model: transcript.model ?? telModel, requestLatencyMs: latency ?? transcript.requestLatencyMs ?? null, telemetry: true };
  const first = tel[0]!;
  const last = tel[tel.length - 1]!;
  const session: SessionMeta = {
    provider: first.provider,
    path: "",
    sessionId: first.sessionId,
    cwd: null,
    mtimeMs: last.t,
    size: 0,
    startedAt: first.t,
    lastEventAt: last.t,
    model: telModel,
  };
  const sig = transcriptSignals(session, asTranscriptEvents(tel), totals, { ...opts, preferReportedUsd: true });
  return { ...sig, transcriptPath: null, requestLatencyMs: latency, telemetry: true };
}
