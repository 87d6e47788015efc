import { readFile, stat } from "node:fs/promises";
import type { Provider } from "../model.js";
import { costUsd, priceFor } from "../pricing/index.js";
import type { Adapter, FileParser, MetaPatch, ParseSink } from "./adapter.js";
import { aiderAdapter } from "./aider.js";
import { claudeAdapter } from "./claude.js";
import { codexAdapter } from "./codex.js";
import { geminiAdapter } from "./gemini.js";
import { addUsage, emptyUsage } from "./parse-util.js";
import { HashedKeySet } from "./keyset.js";
import { IncrementalReader } from "./reader.js";
import type { SessionFile, TokenUsage, TranscriptEvent } from "./types.js";

export const ADAPTERS: readonly Adapter[] = [claudeAdapter, codexAdapter, geminiAdapter, aiderAdapter];

/** Events are kept for this long (by their own timestamps): enough for the hourly windows. */
export const DEFAULT_RETAIN_MS = 2 * 60 * 60 * 1000;
/** Whole-JSON transcripts (Gemini) above this size are skipped with a warning rather than parsed. */
export const MAX_WHOLE_FILE_BYTES = 64 * 1024 * 1024;
/** Response ids remembered for de-duplication across files (a resumed session copies its history). */
export const MAX_DEDUPE_KEYS = 400_000;
/** Responses kept whole so a later line of the same response can raise its usage (lines of one response are adjacent). */
export const MAX_MERGEABLE = 4096;

/** File writes are kept longer than other events: conflict detection looks back with `--since`. */
export const DEFAULT_WRITE_RETAIN_MS = 24 * 60 * 60 * 1000;

export interface StoreOptions {
  env: NodeJS.ProcessEnv;
  now?: () => number;
  retainMs?: number;
  writeRetainMs?: number;
  /**
   * Only what happened lately (the pre-tool hook, which must answer in milliseconds):
   * files not modified within `ms` are not read, and a file seen for the first time is
   * read from `tailBytes` before its end.
   */
  recentOnly?: { ms: number; tailBytes: number };
}

export interface SessionMeta extends SessionFile {
  cwd: string | null;
  sessionId: string | null;
  startedAt: number | null;
  lastEventAt: number | null;
  model: string | null;
  parentSessionId?: string | null;
  /** The agent's own statement of the session cost (Aider). */
  reportedSessionUsd?: number | null;
}

export interface SessionTotals {
  requests: number;
  apiErrors: number;
  toolFailures: number;
  usage: TokenUsage;
  /** Spend of the whole session at the snapshot prices; null when nothing could be priced. */
  usd: number | null;
  /** Some request used a model with no known price. */
  unpriced: boolean;
}

interface FileState {
  meta: SessionMeta;
  totals: SessionTotals;
  events: TranscriptEvent[];
  parser: FileParser;
  adapter: Adapter;
  bad: number;
  reportedBad: number;
  ino: number;
  seen: boolean;
}

export class TranscriptStore {
  private readonly env: NodeJS.ProcessEnv;
  private readonly now: () => number;
  private readonly retainMs: number;
  private readonly writeRetainMs: number;
  private readonly recentOnly: StoreOptions["recentOnly"];
  private readonly reader = new IncrementalReader();
  private readonly files = new Map<string, FileState>();
  /**
   * Two generations each (O(1), bounded; a Map trimmed from its head degrades as holes pile up):
   * the last few thousand responses whole, for merging the lines of one response, and only the
   * keys of many more, for skipping responses copied into another session file. Keeping every
   * response whole would hold hundreds of MB of promoted objects on a large first load.
   */
  private mergeable = new Map<string, { path: string; event: TranscriptEvent }>();
  private mergeableOld = new Map<string, { path: string; event: TranscriptEvent }>();
  /** Keys of many more responses (hashed, in typed arrays), each with the id of the file that first had it. */
  private readonly seenKeys = new HashedKeySet(MAX_DEDUPE_KEYS);
  private readonly fileIds = new Map<string, number>();
  private nextFileId = 1;
  private readonly aiderRoots = new Set<string>();
  private warnings: string[] = [];
  /** Bytes read by the last refresh (benchmarks, tests). */
  lastRefreshBytes = 0;

  constructor(opts: StoreOptions) {
    this.env = opts.env;
    this.now = opts.now ?? Date.now;
    this.retainMs = opts.retainMs ?? DEFAULT_RETAIN_MS;
    this.writeRetainMs = Math.max(this.retainMs, opts.writeRetainMs ?? DEFAULT_WRITE_RETAIN_MS);
    this.recentOnly = opts.recentOnly;
  }

  /** Aider keeps its history in the repository: the collector adds each aider process's cwd. */
  addAiderRoot(dir: string): void {
    this.aiderRoots.add(dir);
  }

  async refresh(): Promise<void> {
    this.lastRefreshBytes = 0;
    const present = new Set<string>();
    for (const adapter of ADAPTERS) {
      let paths: string[];
      try {
        paths = await adapter.listFiles(this.env, this.aiderRoots);
      } catch (err) {
        this.warnings.push(`${adapter.provider}: cannot list transcripts: ${(err as Error).message}`);
        continue;
      }
      for (const path of paths) {
        present.add(path);
        try {
          await this.refreshFile(adapter, path);
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code !== "ENOENT") this.warnings.push(`${path}: ${(err as Error).message}`);
        }
      }
    }
    for (const path of [...this.files.keys()]) if (!present.has(path)) this.drop(path);
    const cutoff = this.now() - this.retainMs;
    const writeCutoff = this.now() - this.writeRetainMs;
    for (const f of this.files.values()) {
      if (f.events.length && f.events[0]!.t < cutoff) f.events = f.events.filter((e) => e.t >= cutoff || (e.kind === "write" && e.t >= writeCutoff));
      if (f.bad > f.reportedBad) {
        this.warnings.push(`${f.meta.path}: skipped ${f.bad - f.reportedBad} unparseable line(s)`);
        f.reportedBad = f.bad;
      }
    }
  }

  sessions(): readonly SessionMeta[] {
    return [...this.files.values()].map((f) => f.meta);
  }

  events(path: string, sinceMs = -Infinity): readonly TranscriptEvent[] {
    const f = this.files.get(path);
    if (!f) return [];
    return sinceMs === -Infinity ? f.events : f.events.filter((e) => e.t >= sinceMs);
  }

  totals(path: string): SessionTotals | undefined {
    return this.files.get(path)?.totals;
  }

  drainWarnings(): string[] {
    const w = this.warnings;
    this.warnings = [];
    return w;
  }

  private drop(path: string): void {
    this.files.delete(path);
    this.reader.forget(path);
    for (const m of [this.mergeable, this.mergeableOld]) for (const [k, v] of m) if (v.path === path) m.delete(k);
    const id = this.fileIds.get(path);
    if (id !== undefined) this.seenKeys.forgetOwner(id);
  }

  private newState(adapter: Adapter, path: string, size: number, mtimeMs: number, ino: number): FileState {
    const init = adapter.initialMeta(path);
    return {
      meta: {
        provider: adapter.provider as Provider,
        path,
        sessionId: init.sessionId ?? null,
        cwd: init.cwd ?? null,
        mtimeMs,
        size,
        startedAt: null,
        lastEventAt: null,
        model: null,
        parentSessionId: init.parentSessionId ?? null,
        reportedSessionUsd: null,
      },
      totals: { requests: 0, apiErrors: 0, toolFailures: 0, usage: emptyUsage(), usd: null, unpriced: false },
      events: [],
      parser: adapter.newParser(path),
      adapter,
      bad: 0,
      reportedBad: 0,
      ino,
      seen: false,
    };
  }

  private async refreshFile(adapter: Adapter, path: string): Promise<void> {
    const st = await stat(path);
    let f = this.files.get(path);
    if (!f && this.recentOnly && st.mtimeMs < this.now() - this.recentOnly.ms) return;
    if (f && f.meta.size === st.size && f.meta.mtimeMs === st.mtimeMs && f.ino === st.ino) return;
    if (!f) {
      f = this.newState(adapter, path, st.size, st.mtimeMs, st.ino);
      this.files.set(path, f);
    }
    const state = f;
    const backlog = !state.seen;
    const sink: ParseSink = {
      event: (e) => this.ingest(state, e),
      meta: (p) => this.applyMeta(state, p),
      bad: () => state.bad++,
      readAt: this.now(),
      backlog,
    };
    if (state.parser.whole) {
      if (st.size > MAX_WHOLE_FILE_BYTES) {
        this.warnings.push(`${path}: ${st.size} bytes is over the ${MAX_WHOLE_FILE_BYTES}-byte limit for whole-file transcripts; skipped`);
      } else {
        const text = await readFile(path, "utf8");
        this.lastRefreshBytes += text.length;
        state.parser.whole(text, sink);
      }
    } else {
      const r = await this.reader.read(path, (line) => state.parser.line!(line, sink), (w) => this.warnings.push(w), this.recentOnly?.tailBytes);
      this.lastRefreshBytes += r.bytes;
      if (r.reset) {
        // Start over: forget what this file contributed, then read it again from the start.
        this.warnings.push(`${path}: ${r.reset === "truncated" ? "truncated" : "replaced"}; re-reading from the start`);
        this.drop(path);
        const fresh = this.newState(adapter, path, -1, st.mtimeMs, st.ino);
        this.files.set(path, fresh);
        this.reader.forget(path);
        return this.refreshFile(adapter, path);
      }
    }
    state.meta.size = st.size;
    state.meta.mtimeMs = st.mtimeMs;
    state.ino = st.ino;
    state.seen = true;
  }

  private applyMeta(f: FileState, p: MetaPatch): void {
    if (p.cwd !== undefined) f.meta.cwd = p.cwd;
    if (p.sessionId !== undefined && !f.meta.parentSessionId) f.meta.sessionId = p.sessionId;
    if (p.sessionId !== undefined && f.meta.parentSessionId) f.meta.sessionId = p.sessionId;
    if (p.model !== undefined) f.meta.model = p.model;
    if (p.parentSessionId !== undefined) f.meta.parentSessionId = p.parentSessionId;
    if (p.reportedSessionUsd !== undefined) {
      f.meta.reportedSessionUsd = p.reportedSessionUsd;
      f.totals.usd = p.reportedSessionUsd;
    }
  }

  private ingest(f: FileState, e: TranscriptEvent): void {
    if (f.meta.startedAt === null || e.t < f.meta.startedAt) f.meta.startedAt = e.t;
    if (f.meta.lastEventAt === null || e.t > f.meta.lastEventAt) f.meta.lastEventAt = e.t;
    if (e.kind === "request" || e.kind === "api_error") {
      if (e.dedupeKey) {
        const prior = this.mergeable.get(e.dedupeKey) ?? this.mergeableOld.get(e.dedupeKey);
        if (prior) {
          if (e.kind === "request" && prior.event.kind === "request") this.mergeUsage(prior.path, prior.event, e);
          return;
        }
        if (this.seenKeys.has(e.dedupeKey)) return;
        this.mergeable.set(e.dedupeKey, { path: f.meta.path, event: e });
        if (this.mergeable.size >= MAX_MERGEABLE / 2) {
          this.mergeableOld = this.mergeable;
          this.mergeable = new Map();
        }
        this.seenKeys.add(e.dedupeKey, this.fileId(f.meta.path));
      }
      if (e.kind === "request") {
        if (!e.model && f.meta.model) e.model = f.meta.model;
        f.totals.requests++;
        addUsage(f.totals.usage, e.usage);
        this.addCost(f, e.usage, e.model, e.reportedUsd, e.t);
      } else {
        f.totals.apiErrors++;
      }
    } else if (e.kind === "tool_result" && !e.ok) {
      f.totals.toolFailures++;
    }
    if (e.t >= this.now() - (e.kind === "write" ? this.writeRetainMs : this.retainMs)) f.events.push(e);
  }

  private fileId(path: string): number {
    let id = this.fileIds.get(path);
    if (id === undefined) {
      id = this.nextFileId++;
      this.fileIds.set(path, id);
    }
    return id;
  }

  private addCost(f: FileState, usage: TokenUsage, model: string | null, reported: number | null, t: number): void {
    if (f.meta.reportedSessionUsd !== null && f.meta.reportedSessionUsd !== undefined) return;
    const price = priceFor(model);
    if (price) f.totals.usd = (f.totals.usd ?? 0) + costUsd(usage, price, t);
    else if (reported !== null) f.totals.usd = (f.totals.usd ?? 0) + reported;
    else if (usage.input + usage.output + usage.cacheRead + usage.cacheWrite5m + usage.cacheWrite1h > 0) f.totals.unpriced = true;
  }

  /** A response repeated on a later line (or copied into another file) counts once; keep the largest usage seen. */
  private mergeUsage(path: string, prior: Extract<TranscriptEvent, { kind: "request" }>, next: Extract<TranscriptEvent, { kind: "request" }>): void {
    const delta = emptyUsage();
    let grew = false;
    for (const k of Object.keys(delta) as Array<keyof TokenUsage>) {
      if (next.usage[k] > prior.usage[k]) {
        delta[k] = next.usage[k] - prior.usage[k];
        prior.usage[k] = next.usage[k];
        grew = true;
      }
    }
    const owner = this.files.get(path);
    if (!grew || !owner) return;
    addUsage(owner.totals.usage, delta);
    this.addCost(owner, delta, prior.model, null, prior.t);
  }
}

