import type { RequestSample, TranscriptSignals } from "./model.js";
import { costUsd, priceFor, withOverride } from "./pricing/index.js";
import type { SessionMeta, SessionTotals } from "./transcripts/store.js";
import { totalTokens } from "./transcripts/parse-util.js";
import type { TranscriptEvent } from "./transcripts/types.js";

export interface SignalOptions {
  now: number;
  /** Trailing window for rates; default 5 minutes. */
  windowMs?: number;
  priceOverride?: { inputUsdPerMTok?: number; outputUsdPerMTok?: number };
  modelOverride?: string;
  /** Use the cost the agent states for a request (Claude Code's telemetry `cost_usd`) over the price table. */
  preferReportedUsd?: boolean;
}

export const DEFAULT_WINDOW_MS = 5 * 60 * 1000;
const HOUR = 60 * 60 * 1000;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/**
 * Golden signals from a session's own events: rates over a trailing window of the
 * events' timestamps, so a one-shot refresh is already right.
 */
export function transcriptSignals(session: SessionMeta, events: readonly TranscriptEvent[], totals: SessionTotals | undefined, opts: SignalOptions): TranscriptSignals {
  const windowMs = opts.windowMs ?? DEFAULT_WINDOW_MS;
  const now = opts.now;
  const from = now - windowMs;
  const model = opts.modelOverride ?? session.model;
  const priceOf = (m: string | null) => withOverride(priceFor(opts.modelOverride ?? m ?? model), opts.priceOverride);
  const aider = session.provider === "aider";

  let tokens = 0;
  let requests = 0;
  let errors = 0;
  let usdWindow = 0;
  let unpricedWindow = false;
  let spendHour = 0;
  let unpricedHour = false;
  const recent: RequestSample[] = [];
  let rate: TranscriptSignals["rateLimits"] = null;
  let context: { used: number; window: number | null } | null = null;
  let waiting = false;
  let working = false;
  const latencies: number[] = [];
  let promptAt: number | null = null;
  let lastAnswerAt: number | null = null;

  for (const e of events) {
    if (e.kind === "user_prompt") working = true;
    else if (e.kind === "turn_end" || e.kind === "waiting") working = false;
    if (e.kind === "waiting") waiting = true;
    else if (e.kind === "user_prompt" || e.kind === "request" || e.kind === "tool_call" || e.kind === "tool_result" || e.kind === "api_error") waiting = false;
    switch (e.kind) {
      case "request": {
        const price = priceOf(e.model);
        const usd = opts.preferReportedUsd && e.reportedUsd !== null ? e.reportedUsd : price ? costUsd(e.usage, price, e.t) : aider && e.reportedUsd !== null ? e.reportedUsd : null;
        const n = totalTokens(e.usage);
        if (e.t >= now - HOUR) {
          recent.push({ t: e.t, tokens: n, usd, error: false, latencyMs: null });
          if (usd === null) unpricedHour = true;
          else spendHour += usd;
        }
        if (e.t >= from) {
          tokens += n;
          requests++;
          if (usd === null) unpricedWindow = true;
          else usdWindow += usd;
        }
        lastAnswerAt = e.t;
        break;
      }
      case "api_error":
        if (e.t >= now - HOUR) recent.push({ t: e.t, tokens: 0, usd: 0, error: true, latencyMs: null });
        if (e.t >= from) errors++;
        break;
      case "user_prompt":
        if (promptAt !== null && lastAnswerAt !== null && lastAnswerAt > promptAt && promptAt >= from) latencies.push(lastAnswerAt - promptAt);
        promptAt = e.t;
        lastAnswerAt = null;
        break;
      case "assistant_text":
        lastAnswerAt = e.t;
        break;
      case "turn_end":
        if (promptAt !== null && promptAt >= from) latencies.push(e.durationMs ?? e.t - promptAt);
        promptAt = null;
        break;
      case "rate_limits":
        rate = { fiveHourPct: e.fiveHourPct, weeklyPct: e.weeklyPct };
        break;
      case "context":
        context = { used: e.usedTokens, window: e.windowTokens };
        break;
      default:
        break;
    }
  }
  latencies.sort((a, b) => a - b);
  const minutes = windowMs / 60_000;
  const unpriced = (totals?.unpriced ?? false) || unpricedWindow || (model !== null && !priceOf(model) && !aider);
  let totalUsd = totals?.usd ?? null;
  if (opts.priceOverride || opts.modelOverride) {
    const p = priceOf(model);
    totalUsd = p && totals ? costUsd(totals.usage, p, session.lastEventAt ?? now, 0) : totalUsd;
  }
  return {
    provider: session.provider,
    sessionId: session.sessionId,
    transcriptPath: session.path,
    model,
    unpriced,
    tokensPerMin: tokens / minutes,
    usdPerHour: unpricedWindow && usdWindow === 0 ? null : (usdWindow * HOUR) / windowMs,
    spendLastHourUsd: unpricedHour && spendHour === 0 ? null : spendHour,
    totalUsd,
    requestsPerMin: requests / minutes,
    errorRatePct: requests + errors > 0 ? (100 * errors) / (requests + errors) : null,
    toolFailures: totals?.toolFailures ?? 0,
    turnLatencyMs: latencies.length ? { p50: percentile(latencies, 50), p95: percentile(latencies, 95) } : null,
    contextPct: context && context.window ? (100 * context.used) / context.window : null,
    rateLimits: rate,
    lastEventAt: session.lastEventAt,
    waitingForInput: waiting,
    working,
    recent,
    totals: totals ? { requests: totals.requests + totals.apiErrors, errors: totals.apiErrors, usage: totals.usage } : null,
  };
}
