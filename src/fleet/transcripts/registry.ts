import type { Provider } from "../model.js";
import type { Adapter, NoTranscript } from "./adapter.js";
import { aiderAdapter } from "./aider.js";
import { claudeAdapter } from "./claude.js";
import { codexAdapter } from "./codex.js";
import { copilotAdapter } from "./copilot.js";
import { geminiAdapter } from "./gemini.js";

/** Every agent whose own session record we read. */
export const ADAPTERS: readonly Adapter[] = [claudeAdapter, codexAdapter, geminiAdapter, aiderAdapter, copilotAdapter];

/** Agents we discover that keep no session record we can read, and what they keep instead (seen in their 2026 releases). */
export const NO_TRANSCRIPT: readonly NoTranscript[] = [
  { provider: "opencode", reason: "opencode keeps no local transcript that opensre can read (its sessions are rows of a SQLite database, opencode.db)" },
  { provider: "amp", reason: "amp keeps no local transcript that opensre can read (its threads are kept on the Amp server)" },
  { provider: "cursor", reason: "cursor keeps no local transcript that opensre can read (its chats are SQLite databases)" },
];

export function adapterFor(provider: Provider): Adapter | undefined {
  return ADAPTERS.find((a) => a.provider === provider);
}

/** The plain sentence for an agent that keeps no transcript we read; undefined when it has an adapter or is unknown. */
export function noTranscriptReason(provider: Provider): string | undefined {
  return NO_TRANSCRIPT.find((n) => n.provider === provider)?.reason;
}
