import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { costUsd, priceFor, PRICE_SOURCE, withOverride } from "../../../src/fleet/pricing/index.js";
import type { TokenUsage } from "../../../src/fleet/transcripts/types.js";

const T = Date.parse("2026-11-20T10:00:00Z");
const u = (p: Partial<TokenUsage>): TokenUsage => ({ input: 0, output: 0, reasoning: 0, cacheWrite5m: 0, cacheWrite1h: 0, cacheRead: 0, ...p });

/** Published list prices, USD per million tokens: input, output, cached input read. */
const PUBLISHED: Array<[string, number, number, number]> = [
  ["claude-opus-4-7", 5, 25, 0.5],
  ["claude-opus-4-6", 5, 25, 0.5],
  ["claude-sonnet-4-6", 3, 15, 0.3],
  ["claude-opus-4-5-20251101", 5, 25, 0.5],
  ["claude-sonnet-4-5-20250929", 3, 15, 0.3],
  ["claude-haiku-4-5-20251001", 1, 5, 0.1],
  ["claude-sonnet-4-5[1m]", 3, 15, 0.3],
  ["gpt-5.1-codex-max", 1.25, 10, 0.125],
  ["gpt-5.1-codex-mini", 0.25, 2, 0.025],
  ["gpt-5.1-codex", 1.25, 10, 0.125],
  ["gpt-5.2", 1.75, 14, 0.175],
  ["gpt-5.2-codex", 1.75, 14, 0.175],
  ["gpt-5.3-codex", 1.75, 14, 0.175],
  ["gpt-5-codex", 1.25, 10, 0.125],
  ["gemini-2.5-pro", 1.25, 10, 0.125],
  ["gemini-2.5-flash", 0.3, 2.5, 0.03],
  ["gemini-3-pro-preview", 2, 12, 0.2],
];

test("today's models are priced at their published prices", () => {
  for (const [model, input, output, cached] of PUBLISHED) {
    const p = priceFor(model);
    assert.ok(p, `${model} is priced`);
    const r = p.rates(T, 1000);
    assert.deepEqual([r.input, r.output, r.cacheRead], [input, output, cached], model);
  }
});

test("Anthropic cache writes: 5-minute at 1.25× and 1-hour at 2× the input price", () => {
  const r = priceFor("claude-sonnet-4-6")!.rates(T, 1000);
  assert.equal(r.cacheWrite5m, 3.75);
  assert.equal(r.cacheWrite1h, 6);
  assert.equal(costUsd(u({ input: 1e6, cacheWrite1h: 1e6 }), priceFor("claude-sonnet-4-5-20250929")!, T, 0), 3 + 6);
});

test("a 300k-token Sonnet 4.5 request is billed whole at the long-context rate", () => {
  const p = priceFor("claude-sonnet-4-5-20250929")!;
  // 300k input (cache reads and writes count toward the tier), 2k output
  const big = u({ input: 100_000, cacheRead: 150_000, cacheWrite5m: 50_000, output: 2_000 });
  assert.equal(Math.round(costUsd(big, p, T) * 1e6), Math.round((100_000 * 6 + 150_000 * 0.6 + 50_000 * 7.5 + 2_000 * 22.5) * 1e6) / 1e6);
  // at 200k exactly the base rates apply
  const edge = u({ input: 200_000, output: 1_000 });
  assert.equal(costUsd(edge, p, T), (200_000 * 3 + 1_000 * 15) / 1e6);
});

test("a model no source knows stays unpriced, never priced as a sibling", () => {
  for (const m of ["gpt-6.1-sol", "claude-sonnet-9-9", "gpt-5-codex-ultra", "<synthetic>", "", null]) assert.equal(priceFor(m), undefined, String(m));
  assert.equal(priceFor("anthropic/claude-sonnet-4-5-20250929")?.id, "claude-sonnet-4-5");
});

test("agents.yaml overrides: input/output replaced, cache rates keep their ratio; an unknown model needs both", () => {
  const p = withOverride(priceFor("claude-sonnet-4-5-20250929"), { inputUsdPerMTok: 6 })!;
  assert.deepEqual(p.rates(T, 0), { input: 6, output: 15, cacheWrite5m: 7.5, cacheWrite1h: 12, cacheRead: 0.6 });
  assert.equal(withOverride(undefined, { inputUsdPerMTok: 1 }), undefined);
  assert.deepEqual(withOverride(undefined, { inputUsdPerMTok: 1, outputUsdPerMTok: 2 })!.rates(T, 0), { input: 1, output: 2, cacheWrite5m: 1.25, cacheWrite1h: 2, cacheRead: 0.1 });
});

test("the footer's price data is the installed catalogue's version", () => {
  const main = createRequire(import.meta.url).resolve(PRICE_SOURCE.name); // <pkg>/dist/index.cjs
  const pkg = JSON.parse(readFileSync(join(dirname(main), "..", "package.json"), "utf8")) as { version: string };
  assert.equal(pkg.version, PRICE_SOURCE.version, "bump PRICE_SOURCE (version and data date) with the package");
});
