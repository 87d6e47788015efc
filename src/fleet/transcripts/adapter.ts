import type { Provider } from "../model.js";
import type { TranscriptEvent } from "./types.js";

/** What a parser learns about its session besides events. */
export interface MetaPatch {
  cwd?: string;
  sessionId?: string;
  model?: string;
  parentSessionId?: string;
  /** The agent's own statement of the session cost (Aider). */
  reportedSessionUsd?: number;
}

export interface ParseSink {
  event(e: TranscriptEvent): void;
  meta(patch: MetaPatch): void;
  /** A line this parser could not understand (counted per file, reported as one warning). */
  bad(): void;
  /** When these bytes were read (ms since epoch): the time of records that carry none (Aider). */
  readonly readAt: number;
  /** True while reading what the file held before we first saw it. */
  readonly backlog: boolean;
}

/** Parses one transcript file, line by line (JSONL, Markdown) or whole (JSON rewritten in place). */
export interface FileParser {
  line?(text: string, sink: ParseSink): void;
  whole?(text: string, sink: ParseSink): void;
}

export interface Adapter {
  readonly provider: Provider;
  /** Transcript files under this agent's roots (env decides the roots; never credentials). */
  listFiles(env: NodeJS.ProcessEnv, extraRoots: ReadonlySet<string>): Promise<string[]>;
  /** What the path alone says (session id from the file name, …). */
  initialMeta(path: string): MetaPatch;
  newParser(path: string): FileParser;
}
