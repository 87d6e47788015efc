import type { Provider } from "../fleet/model.js";

/**
 * Lines worth parsing, per provider, for history. History keeps tokens, cost, requests,
 * API errors and turn latency; most bytes of a transcript are prompts, file contents and
 * tool output, which carry none of them. A line is handed to the adapter's own parser only
 * when it contains one of these byte strings; every other line is skipped without decoding.
 *
 * The needles are a necessary condition, never a sufficient one: a false positive (a tool
 * output that happens to contain `"usage"`) only costs a parse, and the adapter still decides.
 * A provider without an entry (a new adapter) has every line parsed. The parity tests check
 * that filtered and unfiltered ingests count the same on every fixture.
 */
export const USAGE_NEEDLES: Readonly<Partial<Record<Provider, readonly string[]>>> = {
  // responses (usage, also on API error lines), model, cwd and session id ride on every assistant
  // line; a turn's duration is the `durationMs` of a `turn_duration` system line (one without it
  // counts no turn: history has no prompt time for Claude, prompts are not parsed). Each needle
  // is a part of the key that starts with a rare byte (`Ms"` of `"durationMs"`, `ApiErrorMessage"`
  // of `"isApiErrorMessage"`): such a needle is found at memchr speed, where `"turn_duration"` was
  // searched at a seventh of it; a needle a line must contain is all the filter needs
  "claude-code": ['"usage"', 'Ms"', 'ApiErrorMessage"'],
  // token counts, model and cwd (turn_context, session_meta), errors, and the prompt/turn-end pair
  // that gives turn latency
  codex: ['"token_count"', '"turn_context"', '"session_meta"', '"error"', '"stream_error"', '"user_message"', '"task_complete"'],
};

/** The needles of a provider as bytes, or null to parse every line. */
export function needlesFor(provider: Provider): Buffer[] | null {
  const n = USAGE_NEEDLES[provider];
  return n ? n.map((s) => Buffer.from(s, "utf8")) : null;
}

/**
 * Finds, line by line over one buffer, whether a line contains any needle. Each needle's next
 * occurrence is searched once and reused until the scan passes it, so the whole buffer is
 * scanned once per needle however many lines it has.
 */
export class NeedleScanner {
  private readonly next: number[];
  constructor(
    private readonly needles: readonly Buffer[],
    private readonly buf: Buffer,
    private readonly end: number,
  ) {
    this.next = needles.map(() => -2);
  }

  /** True when [start, stop) contains a needle. Calls must come with increasing `start`. */
  lineMatches(start: number, stop: number): boolean {
    for (let i = 0; i < this.needles.length; i++) {
      let at = this.next[i]!;
      if (at === -1) continue; // no further occurrence in the buffer
      if (at < start) {
        at = this.buf.indexOf(this.needles[i]!, start);
        if (at >= this.end) at = -1;
        this.next[i] = at;
        if (at === -1) continue;
      }
      if (at + this.needles[i]!.length <= stop) return true;
    }
    return false;
  }
}
