import type { ParseSink } from "./adapter.js";
import type { TokenUsage } from "./types.js";

export function emptyUsage(): TokenUsage {
  return { input: 0, output: 0, reasoning: 0, cacheWrite5m: 0, cacheWrite1h: 0, cacheRead: 0 };
}

export function addUsage(into: TokenUsage, u: TokenUsage, sign = 1): void {
  into.input += sign * u.input;
  into.output += sign * u.output;
  into.reasoning += sign * u.reasoning;
  into.cacheWrite5m += sign * u.cacheWrite5m;
  into.cacheWrite1h += sign * u.cacheWrite1h;
  into.cacheRead += sign * u.cacheRead;
}

export function totalTokens(u: TokenUsage): number {
  return u.input + u.output + u.cacheWrite5m + u.cacheWrite1h + u.cacheRead;
}

export function num(v: unknown): number {
  return typeof v === "number" && Number.isFinite(v) ? v : 0;
}

export function str(v: unknown): string | null {
  return typeof v === "string" ? v : null;
}

export function obj(v: unknown): Record<string, unknown> | null {
  return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
}

/** One JSON object record, or null after counting it as a bad line (not JSON, or not an object). */
export function parseRecord(text: string, sink: Pick<ParseSink, "bad">): Record<string, unknown> | null {
  let d: Record<string, unknown> | null;
  try {
    d = obj(JSON.parse(text));
  } catch {
    d = null;
  }
  if (!d) sink.bad();
  return d;
}

export function time(v: unknown): number | null {
  if (typeof v !== "string") return null;
  const t = Date.parse(v);
  return Number.isFinite(t) ? t : null;
}

/**
 * One line of text, shortened for display. The result is a fresh copy: a slice of the source
 * would keep the whole transcript line it came from alive for as long as the event is kept
 * (hundreds of MB over the two hours the live view retains).
 */
export function oneLine(text: string, max = 120): string {
  // only a bounded prefix is normalised: a 1 MB tool output costs no more than a short one
  const head = text.length > max * 8 ? text.slice(0, max * 8) : text;
  const s = head.replace(/\s+/g, " ").trim();
  return own(s.length > max ? s.slice(0, max - 1) + "…" : s);
}

/** A copy of `s` that shares no memory with the string it was cut from. */
export function own(s: string): string {
  return s.length === 0 ? "" : Buffer.from(s, "utf8").toString("utf8");
}

/** Distinct short names (models, tools) kept once however many events carry them; bounded. */
const interned = new Map<string, string>();
const MAX_INTERNED = 4096;

/** One shared copy of a short repeated name (a model id, a tool name). */
export function intern(s: string): string {
  const hit = interned.get(s);
  if (hit !== undefined) return hit;
  if (s.length > 200) return own(s);
  if (interned.size >= MAX_INTERNED) interned.clear();
  const copy = own(s);
  interned.set(copy, copy);
  return copy;
}
