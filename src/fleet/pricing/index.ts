import { createRequire } from "node:module";
import type { TokenUsage } from "../transcripts/types.js";

/**
 * Model prices from `@pydantic/genai-prices`: a maintained, offline price catalogue (bundled
 * data, no network) with cache-read, cache-write and 1-hour cache-write prices, long-context
 * tiers and dated historic prices. Its data is loaded on the first price asked for (it is
 * large), never at import time.
 *
 * The package resolves a model id to its catalogue entry once (id matching, dated ids,
 * aliases); the per-request arithmetic is done here from that entry's prices, because the
 * package's own per-call function costs ~45 µs and a first load of a large transcript tree
 * prices millions of requests.
 */

/** The catalogue we read and the date of its data (the package's publication): shown in the dashboard footer. */
export const PRICE_SOURCE = { name: "@pydantic/genai-prices", version: "0.1.8", dataDate: "2026-09-23" } as const;
/** The footer's words for it. */
export const PRICES_AS_OF = `${PRICE_SOURCE.dataDate} (${PRICE_SOURCE.name} ${PRICE_SOURCE.version})`;

/** USD per million tokens of each kind, for one request. */
export interface TokenRates {
  input: number;
  output: number;
  /** Cache write at the 5-minute TTL. */
  cacheWrite5m: number;
  /** Cache write at the 1-hour TTL. */
  cacheWrite1h: number;
  cacheRead: number;
}

/** A priced model: the rates that apply to a request made at `t` with `inputTokens` of input (cache included). */
export interface ModelPricing {
  /** Catalogue id of the model (`claude-sonnet-4-5` for `claude-sonnet-4-5-20250929`). */
  readonly id: string;
  /** Catalogue provider (`anthropic`, `openai`, `google`, …), or `agents.yaml`. */
  readonly provider: string;
  rates(t: number, inputTokens: number): TokenRates;
}

type Tiered = number | { base: number; tiers: Array<{ start: number; price: number }> } | undefined;
type PriceSet = Record<string, Tiered>;
interface CatalogueModel {
  id: string;
  prices: PriceSet | Array<{ constraint?: { type?: string; start_date?: string; start_time?: string; end_time?: string }; prices: PriceSet }>;
}
interface Catalogue {
  calcPrice(usage: Record<string, number>, model: string, opts?: { providerId?: string }): { model: CatalogueModel; provider: { id: string } } | null;
}

let catalogue: Catalogue | undefined;
function load(): Catalogue {
  // the CommonJS build loads synchronously, so pricing needs no async set-up by callers
  catalogue ??= createRequire(import.meta.url)(PRICE_SOURCE.name) as Catalogue;
  return catalogue;
}

/**
 * Load the price catalogue now (once per thread; ~100–200 ms of CPU, most of it compiling the
 * package). A long-lived process calls it when it is idle or waiting anyway, so the first
 * price it needs later does not pause it.
 */
export function loadPriceCatalogue(): void {
  load();
}

/** Resolved models (and misses), by the id as the agent wrote it. Bounded: ids come from transcripts. */
const resolved = new Map<string, ModelPricing | null>();
/** Distinct model ids remembered; a transcript tree names a few dozen. */
const MAX_RESOLVED = 1024;

/** The catalogue provider for a model family, so a name is never matched against another vendor's list. */
function providerHint(id: string): string | undefined {
  if (/^claude-/.test(id)) return "anthropic";
  if (/^(gpt-|o\d|codex-|chatgpt-)/.test(id)) return "openai";
  if (/^gemini-/.test(id)) return "google";
  return undefined;
}

/** The price set in force at `t` (historic prices: the last constraint that starts at or before `t`). */
function priceSetAt(m: CatalogueModel, t: number): PriceSet {
  if (!Array.isArray(m.prices)) return m.prices;
  for (let i = m.prices.length - 1; i >= 0; i--) {
    const c = m.prices[i]!.constraint;
    if (!c) return m.prices[i]!.prices;
    if ((c.type === "start_date" || c.type === undefined) && c.start_date && t >= Date.parse(c.start_date)) return m.prices[i]!.prices;
    // time-of-day prices (off-peak discounts) are not what coding agents pay: skipped
  }
  return m.prices[0]!.prices;
}

/** A tiered price: the whole request is billed at the tier its input reaches (long-context pricing). */
function tier(p: Tiered, inputTokens: number): number | undefined {
  if (p === undefined || typeof p === "number") return p;
  let price = p.base;
  for (const t of p.tiers) if (inputTokens > t.start) price = t.price;
  return price;
}

function fromCatalogue(m: CatalogueModel, provider: string): ModelPricing {
  return {
    id: m.id,
    provider,
    rates(t, inputTokens) {
      const set = priceSetAt(m, t);
      const input = tier(set.input_mtok, inputTokens) ?? 0;
      const write = tier(set.cache_write_mtok, inputTokens) ?? input;
      return {
        input,
        output: tier(set.output_mtok, inputTokens) ?? 0,
        cacheRead: tier(set.cache_read_mtok, inputTokens) ?? input,
        cacheWrite5m: write,
        cacheWrite1h: tier(set.cache_write_1h_mtok, inputTokens) ?? write,
      };
    },
  };
}

/**
 * The price of a model as an agent names it. A provider prefix (`anthropic/…`, as Aider
 * writes) and Claude Code's `[1m]` context suffix are ignored. A model the catalogue does not
 * know is unpriced (undefined): never priced as a sibling, since a wrong number is worse than `-`.
 */
export function priceFor(model: string | null | undefined): ModelPricing | undefined {
  if (!model) return undefined;
  const id = model.trim().replace(/^[a-z-]+\//, "").replace(/\[1m\]$/i, "");
  if (!id || id === "<synthetic>") return undefined;
  let hit = resolved.get(id);
  if (hit === undefined) {
    const providerId = providerHint(id);
    const r = load().calcPrice({ input_tokens: 1, output_tokens: 1 }, id, providerId ? { providerId } : undefined);
    hit = r && r.model.id ? fromCatalogue(r.model, r.provider.id) : null;
    if (resolved.size >= MAX_RESOLVED) resolved.clear();
    resolved.set(id, hit);
  }
  return hit ?? undefined;
}

/** Input tokens of a request as price tiers count them: uncached, cache reads and cache writes. */
export function inputTokens(u: TokenUsage): number {
  return u.input + u.cacheRead + u.cacheWrite5m + u.cacheWrite1h;
}

/**
 * Cost in USD of one request's usage, at the prices in force at `t` (ms since epoch).
 * `tierInput`: the input that selects a long-context tier (default: this request's own input;
 * 0 prices a sum of many requests at the base rates).
 */
export function costUsd(u: TokenUsage, p: ModelPricing, t: number, tierInput = inputTokens(u)): number {
  const r = p.rates(t, tierInput);
  return (u.input * r.input + u.output * r.output + u.cacheWrite5m * r.cacheWrite5m + u.cacheWrite1h * r.cacheWrite1h + u.cacheRead * r.cacheRead) / 1_000_000;
}

/**
 * A price with per-agent overrides (`agents.yaml`) applied to input and output. Cache rates
 * keep their ratio to the input price (or Anthropic's ratios when the model is unknown).
 */
export function withOverride(p: ModelPricing | undefined, o?: { inputUsdPerMTok?: number; outputUsdPerMTok?: number }): ModelPricing | undefined {
  if (!o || (o.inputUsdPerMTok === undefined && o.outputUsdPerMTok === undefined)) return p;
  if (!p && (o.inputUsdPerMTok === undefined || o.outputUsdPerMTok === undefined)) return undefined;
  return {
    id: p?.id ?? "override",
    provider: "agents.yaml",
    rates(t, n) {
      const base = p?.rates(t, n);
      const input = o.inputUsdPerMTok ?? base!.input;
      const output = o.outputUsdPerMTok ?? base!.output;
      const scale = (v: number, ratio: number) => (base && base.input > 0 ? v * (input / base.input) : input * ratio);
      return {
        input,
        output,
        cacheWrite5m: scale(base?.cacheWrite5m ?? 0, 1.25),
        cacheWrite1h: scale(base?.cacheWrite1h ?? 0, 2),
        cacheRead: scale(base?.cacheRead ?? 0, 0.1),
      };
    },
  };
}
