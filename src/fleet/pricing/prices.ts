/**
 * Vendored price snapshot, USD per million tokens. Offline on purpose: the tool runs without
 * network access and prices must not change under a user's feet. Update the date with the table.
 * No npm package ships an offline, dated table with 5-minute and 1-hour cache-write prices for
 * Anthropic, OpenAI and Google models, so the table lives here.
 */
export const PRICES_AS_OF = "2026-11-01";

export interface ModelPrice {
  input: number;
  output: number;
  /** Cache write at the 5-minute TTL (Anthropic: 1.25 × input). */
  cacheWrite5m: number;
  /** Cache write at the 1-hour TTL (Anthropic: 2 × input). */
  cacheWrite1h: number;
  cacheRead: number;
}

const anthropic = (input: number, output: number): ModelPrice => ({
  input,
  output,
  cacheWrite5m: input * 1.25,
  cacheWrite1h: input * 2,
  cacheRead: input * 0.1,
});
const openai = (input: number, output: number, cacheRead: number): ModelPrice => ({ input, output, cacheWrite5m: input, cacheWrite1h: input, cacheRead });
const google = (input: number, output: number, cacheRead: number): ModelPrice => ({ input, output, cacheWrite5m: input, cacheWrite1h: input, cacheRead });

/** Exact model ids (and the dated ids agents write into transcripts). */
export const PRICES: Record<string, ModelPrice> = {
  "claude-opus-4-1-20250805": anthropic(15, 75),
  "claude-opus-4-20250514": anthropic(15, 75),
  "claude-opus-4-5-20251101": anthropic(5, 25),
  "claude-sonnet-4-5-20250929": anthropic(3, 15),
  "claude-sonnet-4-20250514": anthropic(3, 15),
  "claude-3-7-sonnet-20250219": anthropic(3, 15),
  "claude-haiku-4-5-20251001": anthropic(1, 5),
  "claude-3-5-haiku-20241022": anthropic(0.8, 4),
  "gpt-5": openai(1.25, 10, 0.125),
  "gpt-5-codex": openai(1.25, 10, 0.125),
  "gpt-5.1": openai(1.25, 10, 0.125),
  "gpt-5.1-codex": openai(1.25, 10, 0.125),
  "gpt-5-mini": openai(0.25, 2, 0.025),
  "gpt-5-nano": openai(0.05, 0.4, 0.005),
  "gpt-4.1": openai(2, 8, 0.5),
  "gpt-4.1-mini": openai(0.4, 1.6, 0.1),
  o3: openai(2, 8, 0.5),
  "o4-mini": openai(1.1, 4.4, 0.275),
  "gemini-2.5-pro": google(1.25, 10, 0.125),
  "gemini-2.5-flash": google(0.3, 2.5, 0.03),
  "gemini-2.5-flash-lite": google(0.1, 0.4, 0.01),
};

/** Explicit aliases only (what agents and users type); never a guess from a family name. */
export const ALIASES: Record<string, string> = {
  "claude-opus-4-1": "claude-opus-4-1-20250805",
  "claude-opus-4-5": "claude-opus-4-5-20251101",
  "claude-sonnet-4-5": "claude-sonnet-4-5-20250929",
  "claude-sonnet-4": "claude-sonnet-4-20250514",
  "claude-haiku-4-5": "claude-haiku-4-5-20251001",
};
