import type { TokenUsage } from "../transcripts/types.js";
import { ALIASES, PRICES, PRICES_AS_OF, type ModelPrice } from "./prices.js";

export { PRICES_AS_OF, type ModelPrice };

/**
 * The price of a model by exact id or explicit alias. A provider prefix (`anthropic/…`,
 * as Aider writes) is ignored. An unknown model is unpriced (undefined): it is never
 * priced as a sibling, since a wrong number is worse than `-`.
 */
export function priceFor(model: string | null | undefined): ModelPrice | undefined {
  if (!model) return undefined;
  const id = model.trim().replace(/^[a-z-]+\//, "");
  return PRICES[id] ?? (ALIASES[id] ? PRICES[ALIASES[id]!] : undefined);
}

/** Cost in USD of one request's usage. */
export function costUsd(u: TokenUsage, p: ModelPrice): number {
  return (
    (u.input * p.input + u.output * p.output + u.cacheWrite5m * p.cacheWrite5m + u.cacheWrite1h * p.cacheWrite1h + u.cacheRead * p.cacheRead) /
    1_000_000
  );
}

/** A price with per-agent overrides (`agents.yaml`) applied to input and output. */
export function withOverride(p: ModelPrice | undefined, o?: { inputUsdPerMTok?: number; outputUsdPerMTok?: number }): ModelPrice | undefined {
  if (!o || (o.inputUsdPerMTok === undefined && o.outputUsdPerMTok === undefined)) return p;
  const input = o.inputUsdPerMTok ?? p?.input;
  const output = o.outputUsdPerMTok ?? p?.output;
  if (input === undefined || output === undefined) return undefined;
  return {
    input,
    output,
    cacheWrite5m: p ? p.cacheWrite5m * (input / p.input) : input * 1.25,
    cacheWrite1h: p ? p.cacheWrite1h * (input / p.input) : input * 2,
    cacheRead: p ? p.cacheRead * (input / p.input) : input * 0.1,
  };
}
