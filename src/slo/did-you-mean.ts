/** Levenshtein distance (small strings: config keys). */
export function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length]!;
}

/**
 * The closest allowed key to an unknown one, when it is close enough to be a typo or a
 * shortened form (`hourly_budget` → `hourly_budget_usd`); undefined otherwise.
 */
export function didYouMean(key: string, allowed: readonly string[]): string | undefined {
  const k = key.toLowerCase().replace(/-/g, "_");
  let best: { word: string; score: number } | undefined;
  for (const word of allowed) {
    let score = editDistance(k, word);
    if (word.startsWith(k) || k.startsWith(word)) score = Math.min(score, 1);
    if (!best || score < best.score) best = { word, score };
  }
  if (!best) return undefined;
  return best.score <= Math.max(2, Math.floor(best.word.length / 3)) ? best.word : undefined;
}
