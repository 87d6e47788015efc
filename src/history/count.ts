import { costUsd, priceFor } from "../fleet/pricing/index.js";
import type { TokenUsage } from "../fleet/transcripts/types.js";
import type { CountRecord, ParsedSlice } from "./parse.js";
import { minuteCut } from "./retention.js";
import { latencyBucket } from "./schema.js";
import { COUNTER_INDEX as C, HOUR_MS, MINUTE_MS, newCounters, TURN_MAX, TURN_MIN, type Counters, type FileRow, type HistoryStore } from "./store.js";

/**
 * The count half of history ingest: applies parsed records to the store, counting each
 * response once, the way the live view (`TranscriptStore`) counts it:
 *  - a record with a dedupe key seen before is not counted again, whichever file and
 *    whichever process saw it first (keys live in the database, so resumed sessions that
 *    copy their history into a new file, and a second process, count nothing twice);
 *  - a later line of a response still open (the last MERGE_OPEN responses) raises its
 *    usage to the largest value seen per kind, added to the bucket it was counted in;
 *  - a record without a key always counts (its adapter de-duplicates it: Codex's cumulative
 *    totals, Gemini's message ids).
 * Cost is priced per request when counted: the agent's own statement (Aider) first, else
 * the price catalogue at the request's time (a long-context tier by the request's own input);
 * a request no price covers is counted as unpriced. The rule is docs/counting.md's.
 */

/** Responses kept whole so a following line of the same response can raise its usage (as the live view keeps). */
export const MERGE_OPEN = 4096;

interface OpenResponse {
  session: number;
  minute: number;
  model: number;
  modelName: string | null;
  t: number;
  usage: TokenUsage | null; // null: an API error (never merged)
}

const USAGE_KEYS = ["input", "output", "reasoning", "cacheWrite5m", "cacheWrite1h", "cacheRead"] as const;

/** Cost of one request's usage at the prices in force at `t` (as the live view prices it); null when no price covers the model. */
export function priceUsage(usage: TokenUsage, model: string | null, t: number): number | null {
  const p = priceFor(model);
  return p ? costUsd(usage, p, t) : null;
}

function tokens(u: TokenUsage): number {
  return u.input + u.output + u.cacheWrite5m + u.cacheWrite1h + u.cacheRead;
}

export class ResponseCounter {
  /** `now`: the clock that places the minute-retention cut (minute rows older than it are not written). */
  constructor(private readonly now: () => number = Date.now) {}

  private young = new Map<number, OpenResponse>();
  private old = new Map<number, OpenResponse>();

  private lookup(key: number): OpenResponse | undefined {
    return this.young.get(key) ?? this.old.get(key);
  }

  private remember(key: number, r: OpenResponse): void {
    this.young.set(key, r);
    if (this.young.size >= MERGE_OPEN / 2) {
      this.old = this.young;
      this.young = new Map();
    }
  }

  /** Forget the open responses of a session's file that is being read again from elsewhere. */
  reset(): void {
    this.young.clear();
    this.old.clear();
  }

  /**
   * Apply one parsed slice of `row`'s file, in the caller's write transaction. Returns the
   * number of requests counted and the file's row as stored, or null when the stored offset moved since the slice was
   * read (another process counted it first): nothing is written then.
   */
  apply(store: HistoryStore, row: FileRow, slice: ParsedSlice, session: () => number): { requests: number; row: FileRow } | null {
    const current = store.file(row.path);
    if ((current?.offset ?? 0) !== slice.from) return null;
    const buckets = new Map<number, Map<number, Counters>>(); // minute → model → counters
    const bucket = (minute: number, model: number): Counters => {
      let byModel = buckets.get(minute);
      if (!byModel) buckets.set(minute, (byModel = new Map()));
      let c = byModel.get(model);
      if (!c) byModel.set(model, (c = newCounters()));
      return c;
    };
    let sessionId: number | null = row.session;
    const sid = () => (sessionId ??= session());
    for (const w of slice.warm) {
      if (w.k === "turn" || !w.key || this.lookup(w.key)) continue;
      const minute = Math.floor(w.t / MINUTE_MS);
      this.remember(w.key, { session: sid(), minute, model: store.modelId(w.model), modelName: w.model, t: w.t, usage: w.k === "req" ? { ...w.usage } : null });
    }
    // the response keys this slice may count, stored in bulk: those that were new are the ones to count
    const fresh = store.addResponseKeys(this.candidates(slice.records));
    let requests = 0;
    let first = slice.mergedFirst;
    let last = slice.mergedLast;
    const merged: Array<[OpenResponse, Counters]> = [];
    for (const r of slice.records) {
      if (r.t < first) first = r.t;
      if (r.t > last) last = r.t;
      const minute = Math.floor(r.t / MINUTE_MS);
      if (r.k === "turn") {
        const c = bucket(minute, store.modelId(r.model));
        c[C.turns]! += 1;
        c[C.turn_ms]! += r.ms;
        c[C.lat0 + latencyBucket(r.ms)]! += 1;
        c[TURN_MIN] = Math.min(c[TURN_MIN]!, r.ms);
        c[TURN_MAX] = Math.max(c[TURN_MAX]!, r.ms);
        continue;
      }
      if (r.key) {
        const prior = this.lookup(r.key);
        if (prior) {
          if (r.k === "req" && prior.usage) {
            const d = this.merge(prior, r);
            if (d) merged.push([prior, d]);
          }
          continue;
        }
        if (!fresh.has(r.key)) continue; // counted before (another file, another process)
        fresh.delete(r.key);
      }
      const model = r.model; // an API error is the session's model's
      const modelId = store.modelId(model);
      if (r.key) this.remember(r.key, { session: sid(), minute, model: modelId, modelName: model, t: r.t, usage: r.k === "req" ? { ...r.usage } : null });
      const c = bucket(minute, modelId);
      if (r.k === "err") {
        c[C.errors]! += 1;
        continue;
      }
      requests++;
      addTokens(c, r.usage, 1);
      c[C.requests]! += 1;
      const usd = r.reportedUsd ?? priceUsage(r.usage, r.model, r.t);
      if (usd !== null) c[C.usd]! += usd;
      else if (tokens(r.usage) > 0) c[C.unpriced]! += 1;
    }
    if (buckets.size || merged.length) {
      const s = sid();
      // minute rows past their retention would only be pruned: hour and day rows carry that usage
      const batch = store.usageBatch(minuteCut(this.now()));
      for (const [minute, byModel] of buckets) for (const [model, c] of byModel) batch.add(s, minute, model, c);
      for (const [prior, d] of merged) batch.add(prior.session, prior.minute, prior.model, d);
      batch.flush();
      if (first <= last) store.sessionSpan(s, first, last, slice.meta.cwd);
    }
    const next: FileRow = {
      ...row,
      session: sessionId,
      dev: slice.dev,
      ino: slice.ino,
      // a slice that stopped at its byte limit records the size it reached, so the file still reads as changed
      size: slice.more ? slice.to : slice.size,
      mtime_ms: slice.mtimeMs,
      offset: slice.to,
      counted: row.counted + requests,
      cwd: slice.meta.cwd,
      session_id: slice.meta.sessionId,
      parent_session_id: slice.meta.parentSessionId,
      model: slice.meta.model,
      bad_lines: row.bad_lines + slice.bad,
    };
    store.putFile(next);
    return { requests, row: next };
  }

  /** Keys (with their hour) of the records whose response is not open: each at its first record. */
  private candidates(records: readonly CountRecord[]): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    const seen = new Set<number>();
    for (const r of records) {
      if (r.k === "turn" || !r.key || seen.has(r.key) || this.lookup(r.key)) continue;
      seen.add(r.key);
      out.push([r.key, Math.floor(r.t / HOUR_MS)]);
    }
    return out;
  }

  /**
   * Raise an open response's usage to the largest seen per kind; the counters of the increase,
   * or null. The whole response is re-priced (growing past a long-context threshold re-prices
   * all of it), as the live view does.
   */
  private merge(prior: OpenResponse, next: Extract<CountRecord, { k: "req" }>): Counters | null {
    const before = { ...prior.usage! };
    const delta: TokenUsage = { input: 0, output: 0, reasoning: 0, cacheWrite5m: 0, cacheWrite1h: 0, cacheRead: 0 };
    let grew = false;
    for (const k of USAGE_KEYS) {
      if (next.usage[k] > prior.usage![k]) {
        delta[k] = next.usage[k] - prior.usage![k];
        prior.usage![k] = next.usage[k];
        grew = true;
      }
    }
    if (!grew) return null;
    const c = newCounters();
    addTokens(c, delta, 1);
    const after = priceUsage(prior.usage!, prior.modelName, prior.t);
    const was = priceUsage(before, prior.modelName, prior.t);
    if (after !== null && was !== null) c[C.usd]! += after - was;
    return c;
  }
}

function addTokens(c: Counters, u: TokenUsage, sign: number): void {
  c[C.input]! += sign * u.input;
  c[C.output]! += sign * u.output;
  c[C.reasoning]! += sign * u.reasoning;
  c[C.cache_write_5m]! += sign * u.cacheWrite5m;
  c[C.cache_write_1h]! += sign * u.cacheWrite1h;
  c[C.cache_read]! += sign * u.cacheRead;
}
