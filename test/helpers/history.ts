import { cpSync, existsSync, mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { FIXTURES, REPO_ROOT } from "./env.js";
import { TranscriptStore } from "../../src/fleet/transcripts/store.js";
import type { HistoryStore } from "../../src/history/store.js";
import { USAGE_COUNTERS } from "../../src/history/schema.js";

/** Copies of the transcript fixtures in `dir`, and the environment that points the adapters at them. */
export function copyFixtures(dir: string): { env: NodeJS.ProcessEnv; aiderRoot: string } {
  cpSync(join(FIXTURES, "claude-code"), join(dir, "claude"), { recursive: true });
  cpSync(join(FIXTURES, "codex"), join(dir, "codex"), { recursive: true });
  cpSync(join(FIXTURES, "gemini"), join(dir, "gemini"), { recursive: true });
  mkdirSync(join(dir, "repo"));
  cpSync(join(FIXTURES, "aider", ".aider.chat.history.md"), join(dir, "repo", ".aider.chat.history.md"));
  return {
    env: { CLAUDE_CONFIG_DIR: join(dir, "claude"), CODEX_HOME: join(dir, "codex"), GEMINI_DIR: join(dir, "gemini"), HOME: join(dir, "nohome") },
    aiderRoot: join(dir, "repo"),
  };
}

/**
 * Records written by the real agent CLIs (`/work/shared/fixtures/real`, or vendored under
 * test/fixtures/real): null when this checkout has none.
 */
export function realFixtures(): string | null {
  for (const p of [join(FIXTURES, "real"), resolve(REPO_ROOT, "..", "shared", "fixtures", "real"), "/work/shared/fixtures/real"]) {
    if (existsSync(p)) return p;
  }
  return null;
}

export interface Figures {
  requests: number;
  errors: number;
  input: number;
  output: number;
  reasoning: number;
  cacheWrite5m: number;
  cacheWrite1h: number;
  cacheRead: number;
  usd: number;
}

/** What the live view counts per provider after reading every transcript of `env`. */
export async function liveFigures(env: NodeJS.ProcessEnv, aiderRoot?: string): Promise<Record<string, Figures>> {
  const store = new TranscriptStore({ env });
  if (aiderRoot) store.addAiderRoot(aiderRoot);
  await store.refresh();
  const out: Record<string, Figures> = {};
  for (const s of store.sessions()) {
    const t = store.totals(s.path)!;
    const f = (out[s.provider] ??= { requests: 0, errors: 0, input: 0, output: 0, reasoning: 0, cacheWrite5m: 0, cacheWrite1h: 0, cacheRead: 0, usd: 0 });
    f.requests += t.requests;
    f.errors += t.apiErrors;
    f.input += t.usage.input;
    f.output += t.usage.output;
    f.reasoning += t.usage.reasoning;
    f.cacheWrite5m += t.usage.cacheWrite5m;
    f.cacheWrite1h += t.usage.cacheWrite1h;
    f.cacheRead += t.usage.cacheRead;
    f.usd += t.usd ?? 0;
  }
  return out;
}

/** What the history store holds per provider, from its minute and its hour rows (which must agree). */
export function storedFigures(store: HistoryStore, table: "usage_minute" | "usage_hour" = "usage_hour"): Record<string, Figures> {
  const sums = USAGE_COUNTERS.slice(0, 9).map((c) => `sum(${c}) AS ${c}`).join(", ");
  const rows = store.db
    .prepare<[], Record<string, number> & { provider: string }>(`SELECT s.provider AS provider, ${sums} FROM ${table} u JOIN sessions s ON s.id = u.session GROUP BY s.provider`)
    .all();
  const out: Record<string, Figures> = {};
  for (const r of rows) {
    out[r.provider] = {
      requests: r.requests!,
      errors: r.errors!,
      input: r.input!,
      output: r.output!,
      reasoning: r.reasoning!,
      cacheWrite5m: r.cache_write_5m!,
      cacheWrite1h: r.cache_write_1h!,
      cacheRead: r.cache_read!,
      usd: r.usd!,
    };
  }
  return out;
}

/** Figures with cost rounded to the micro-dollar (sums in another order differ in the last bits). */
export function rounded(f: Record<string, Figures>): Record<string, Figures> {
  const out: Record<string, Figures> = {};
  for (const [k, v] of Object.entries(f)) out[k] = { ...v, usd: Math.round(v.usd * 1e6) / 1e6 };
  return out;
}
