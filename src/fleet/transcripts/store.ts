import { statSync, type Stats } from "node:fs";
import type { Provider } from "../model.js";
import { costUsd, inputTokens, priceFor } from "../pricing/index.js";
import type { Adapter, FileParser, MetaPatch, ParseSink } from "./adapter.js";
import { addUsage, emptyUsage } from "./parse-util.js";
import { HashedKeySet } from "./keyset.js";
import { IncrementalReader, isWholeJsonObject, readRegularFile } from "./reader.js";
import { ADAPTERS, adapterFor } from "./registry.js";
import type { SessionFile, TokenUsage, TranscriptEvent } from "./types.js";

export { ADAPTERS };

/** Events are kept for this long (by their own timestamps): enough for the hourly windows. */
export const DEFAULT_RETAIN_MS = 2 * 60 * 60 * 1000;
/** Whole-JSON transcripts (Gemini before 0.60) above this size are skipped with a warning rather than parsed. */
export const MAX_WHOLE_FILE_BYTES = 64 * 1024 * 1024;
/** Responses kept whole so a later line of the same response can raise its usage (lines of one response are adjacent). */
export const MAX_MERGEABLE = 4096;
/**
 * Most transcript bytes one refresh reads; the rest is read by the next refresh. A file that
 * grows faster than we read, or a gigabyte of history, never makes one refresh unbounded.
 */
export const MAX_BYTES_PER_REFRESH = 1024 * 1024 * 1024;
/** Slack between a process starting and its first transcript write (clocks, buffering). */
export const START_SLACK_MS = 5_000;

/**
 * Old files (listed, too old to be a live session's) looked at again per live refresh: a rolling
 * sweep, so an old session resumed in place by an agent already running (Gemini's `/resume`) is
 * found within 100 refreshes in a folder of 100k (at once in a folder of up to 1,000), while a
 * refresh with nothing changed stats a bounded number of files.
 */
export const COLD_RECHECKS_PER_REFRESH = 1_000;
/** Old files remembered as such (~150 bytes each); past it further old files are looked at on every refresh. */
export const MAX_COLD_FILES = 1_000_000;
/**
 * Longest stretch of synchronous stats before the event loop gets a turn (a live view answers
 * keys meanwhile). A stat on a local disk is ~1-15 µs done synchronously against ~80 µs through
 * the thread pool and a promise each (measured at 100k files: 1.0-1.4 s against 8 s), so a first
 * look at a large folder stats in short synchronous runs.
 */
export const STAT_SLICE_MS = 8;

/** File writes are kept longer than other events: conflict detection looks back with `--since`. */
export const DEFAULT_WRITE_RETAIN_MS = 24 * 60 * 60 * 1000;

/** A live agent whose transcript the store must find (the collector's view of one process). */
export interface ScopeAgent {
  provider: Provider;
  /** The agent's own locations: its location variables and HOME (from /proc/<pid>/environ), else ours. */
  env: NodeJS.ProcessEnv;
  cwd: string | null;
  /** Process start, ms since epoch. */
  startTime: number | null;
  /** Transcript files known exactly (held open by the process, or named by the agent's own session record). */
  pinned: readonly string[];
  /**
   * `pinned` is the agent's own record of its session (Claude's `sessions/<pid>.json`): only that
   * session's files are listed, never its project's folder.
   */
  exact?: boolean;
}

/**
 * What a refresh looks at. Without one, every transcript under the store's env (history,
 * backfill). With one, cost follows what changed: only the files a live agent can be writing
 * (its project's folder, modified since it started or within the retention) and the files it
 * is known to write; history of other projects is never listed or read.
 */
export interface RefreshScope {
  agents: readonly ScopeAgent[];
}

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
  /** Old files looked at again per live refresh (default `COLD_RECHECKS_PER_REFRESH`). */
  coldRechecks?: number;
  /** Old files remembered as such (default `MAX_COLD_FILES`; tests lower it). */
  maxColdFiles?: number;
}

export interface SessionMeta extends SessionFile {
  cwd: string | null;
  sessionId: string | null;
  startedAt: number | null;
  lastEventAt: number | null;
  model: string | null;
  parentSessionId?: string | null;
  /** The session this one was forked from (Codex). */
  forkedFromSessionId?: string | null;
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
  /** Last refresh whose listing included this file (scoped refreshes forget files not listed for a while). */
  listedAt: number;
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
   * The last few thousand responses whole, in two generations (O(1), bounded), for merging the
   * lines of one response (adjacent in a file); every other response is only a key in `seenKeys`.
   */
  private mergeable = new Map<string, { path: string; event: Extract<TranscriptEvent, { kind: "request" | "api_error" }> }>();
  private mergeableOld = new Map<string, { path: string; event: Extract<TranscriptEvent, { kind: "request" | "api_error" }> }>();
  /** Every response key read, exactly (no eviction: no de-duplication cliff), with the id of the file that first had it. */
  private readonly seenKeys = new HashedKeySet();
  private readonly fileIds = new Map<string, number>();
  private nextFileId = 1;
  private readonly aiderRoots = new Set<string>();
  private warnings: string[] = [];
  /** Bytes read by the last refresh (benchmarks, tests). */
  lastRefreshBytes = 0;
  /** Files listed by the last refresh (tests: cost follows what changed). */
  lastRefreshListed = 0;
  private lastWanted: ReadonlyMap<string, unknown> = new Map();
  /** Whether the last refresh listed this file (tests: what a refresh looks at). */
  listedLastRefresh(path: string): boolean {
    return this.lastWanted.has(path) || this.lastListings.some((l) => l.paths.includes(path));
  }
  /** Files stat'ed by the last refresh (tests: a refresh with nothing changed does not look at every file). */
  lastRefreshStats = 0;
  /** The last live listing of each project folder in scope, with what is known of its files. */
  private readonly listings = new Map<string, Listing>();
  private lastListings: readonly Listing[] = [];
  /** Cold files remembered across all listings (bounded by `MAX_COLD_FILES`). */
  private coldCount = 0;
  private readonly coldRechecks: number;
  private readonly maxColdFiles: number;

  constructor(opts: StoreOptions) {
    this.env = opts.env;
    this.now = opts.now ?? Date.now;
    this.retainMs = opts.retainMs ?? DEFAULT_RETAIN_MS;
    this.writeRetainMs = Math.max(this.retainMs, opts.writeRetainMs ?? DEFAULT_WRITE_RETAIN_MS);
    this.recentOnly = opts.recentOnly;
    this.coldRechecks = opts.coldRechecks ?? COLD_RECHECKS_PER_REFRESH;
    this.maxColdFiles = opts.maxColdFiles ?? MAX_COLD_FILES;
  }

  /** Aider keeps its history in the repository: the collector adds each aider process's cwd. */
  addAiderRoot(dir: string): void {
    this.aiderRoots.add(dir);
  }

  /** Bytes held by the response-key set (benchmarks). */
  get keyBytes(): number {
    return this.seenKeys.bytes;
  }

  async refresh(scope?: RefreshScope): Promise<void> {
    this.lastRefreshBytes = 0;
    const now = this.now();
    /**
     * Files named exactly (an agent's own session, a file held open, every file of history, a
     * live session's sub-agent runs) → its adapter and the oldest modification that still makes
     * it worth reading (-Infinity: always). Project folders' files are looked at by `groups`.
     */
    const wanted = new Map<string, { adapter: Adapter; since: number }>();
    const want = (adapter: Adapter, path: string, since: number) => {
      const w = wanted.get(path);
      if (!w) wanted.set(path, { adapter, since });
      else if (since < w.since) w.since = since;
    };
    const listings: Listing[] = [];
    /** A project folder's files to look at this refresh (no object per file: a first look at 100k sessions allocates little). */
    const groups: Array<{ adapter: Adapter; since: number; listing: Listing; paths: readonly string[] }> = [];
    if (!scope) {
      const since = this.recentOnly ? now - this.recentOnly.ms : -Infinity;
      for (const adapter of ADAPTERS) {
        try {
          for (const path of await adapter.listFiles(this.env, this.aiderRoots)) want(adapter, path, since);
        } catch (err) {
          this.warnings.push(`${adapter.provider}: cannot list transcripts: ${(err as Error).message}`);
        }
      }
    } else {
      /** One listing per project folder and location, shared by the agents in it. */
      const listed = new Map<string, { adapter: Adapter; paths: readonly string[]; since: number; start: number }>();
      for (const a of scope.agents) {
        const adapter = adapterFor(a.provider);
        if (!adapter) continue;
        const recent = now - (this.recentOnly?.ms ?? this.retainMs);
        const since = this.recentOnly ? recent : Math.min(recent, (a.startTime ?? now) - START_SLACK_MS);
        const start = a.startTime ?? now;
        if (a.exact && a.pinned.length) {
          // the agent's own record names its session: that session's files, not its project's folder
          for (const p of a.pinned) {
            const files = adapter.sessionFiles ? await adapter.sessionFiles(p).catch(() => [p]) : [p];
            for (const f of files) want(adapter, f, this.recentOnly ? recent : -Infinity);
          }
          continue;
        }
        for (const p of a.pinned) want(adapter, p, this.recentOnly ? recent : -Infinity);
        const key = `${a.provider}\0${a.cwd}\0${rootsKey(a.env)}`;
        const l = listed.get(key);
        if (l) {
          l.since = Math.min(l.since, since);
          l.start = Math.max(l.start, start);
          continue;
        }
        let paths: string[];
        try {
          paths = await adapter.listFiles(a.env, this.aiderRoots, { cwd: a.cwd, since });
        } catch (err) {
          this.warnings.push(`${adapter.provider}: cannot list transcripts: ${(err as Error).message}`);
          paths = [];
        }
        listed.set(key, { adapter, paths, since, start });
      }
      // Files listed before and found too old to be a live session's ("cold") are not stat'ed
      // again on every refresh: only when the folder changed and they are new in it, when a live
      // agent that could resume them started after the last full look, or when the rolling sweep
      // (the least recently looked at first, a bounded number per refresh) comes back to them.
      // An unchanged folder of 100k old sessions costs a few stats and no per-file work.
      for (const [key, l] of listed) {
        let L = this.listings.get(key);
        const full = !L || l.start > L.fullLookAt;
        if (!L) this.listings.set(key, (L = { paths: [], cold: new Set(), hot: new Set(), fullLookAt: -Infinity }));
        listings.push(L);
        let paths: string[] | readonly string[];
        if (full) {
          // every file once; what is looked at again is sorted out as each is seen
          this.coldCount -= L.cold.size;
          L.cold.clear();
          L.hot = new Set();
          L.fullLookAt = now;
          paths = l.paths;
        } else {
          if (!sameList(L.paths, l.paths)) {
            // the folder changed: what is new in it is looked at, what was cold and is still there stays cold
            const present = new Set(l.paths);
            for (const p of L.cold) if (!present.has(p)) this.uncold(L, p);
            L.hot = new Set(l.paths.filter((p) => !L!.cold.has(p)));
          }
          const some = [...L.hot];
          let sweep = this.coldRechecks;
          for (const p of L.cold) {
            if (sweep-- <= 0) break;
            some.push(p);
          }
          paths = some;
        }
        L.paths = l.paths;
        groups.push({ adapter: l.adapter, since: l.since, listing: L, paths });
      }
      for (const [key, L] of this.listings) if (!listed.has(key)) this.dropListing(key, L);
    }
    let listedCount = 0;
    for (const L of listings) listedCount += L.paths.length;
    // files named exactly (pinned) and not in a listing, or every file (history)
    for (const p of wanted.keys()) if (!listings.some((L) => L.paths.includes(p))) listedCount++;
    this.lastRefreshListed = listedCount;
    this.lastWanted = wanted;
    this.lastListings = listings;
    // known files first (their appends), then new ones oldest first: an original is read before
    // a later copy of its responses, so the copy is the one recognised as a replay
    const fresh: Array<{ path: string; adapter: Adapter; mtimeMs: number; size: number; ino: number }> = [];
    const known: Array<{ path: string; adapter: Adapter; st: Stats }> = [];
    let budget = MAX_BYTES_PER_REFRESH;
    let statted = 0;
    /** Listed sessions read this refresh whose other files (Claude's sub-agent runs) are looked for. */
    const expand: Array<{ path: string; adapter: Adapter; since: number }> = [];
    const classify = (path: string, adapter: Adapter, since: number, L: Listing | undefined, st: Stats | Error) => {
      if (st instanceof Error) {
        if ((st as NodeJS.ErrnoException).code !== "ENOENT") this.warnings.push(`${path}: ${st.message}`);
        if (L) this.uncold(L, path);
        if (scope && this.files.has(path)) this.drop(path);
        return;
      }
      if (!st.isFile()) return; // a FIFO, socket or device named like a transcript
      const f = this.files.get(path);
      if (f || st.mtimeMs >= since) {
        if (L) this.uncold(L, path);
        if (L && adapter.sessionFiles) expand.push({ path, adapter, since });
        if (f) {
          f.listedAt = now;
          known.push({ path, adapter: f.adapter, st });
        } else fresh.push({ path, adapter, mtimeMs: st.mtimeMs, size: st.size, ino: st.ino });
      } else if (L) {
        // too old to be a live session's: remembered as such, (re-)inserted last so the sweep
        // takes the least recently looked at first; past MAX_COLD_FILES, looked at every refresh
        if (L.cold.delete(path)) L.cold.add(path);
        else if (this.coldCount < this.maxColdFiles) {
          L.cold.add(path);
          this.coldCount++;
        } else {
          L.hot.add(path);
          return;
        }
        L.hot.delete(path);
      }
    };
    const readKnown = async () => {
      for (const k of known.splice(0)) budget -= await this.tryRefreshFile(k.adapter, k.path, k.st, budget);
    };
    const pinnedPaths = [...wanted.keys()];
    statted += await forEachStat(pinnedPaths, (p, st) => {
      const w = wanted.get(p)!;
      classify(p, w.adapter, w.since, undefined, st);
    });
    for (const g of groups) {
      statted += await forEachStat(g.paths, (p, st) => {
        if (!wanted.has(p)) classify(p, g.adapter, g.since, g.listing, st);
      });
    }
    await readKnown();
    if (expand.length) {
      // A live listing names only a project folder's sessions, not their sub-folders: the
      // sub-agent runs of a session are looked for when the session itself is live or being
      // read (they are written during its turns), so a folder of 100k old sessions with a
      // sub-folder each costs no stat per sub-folder per refresh.
      const more: string[] = [];
      for (const e of expand) {
        for (const f of await e.adapter.sessionFiles!(e.path).catch(() => [])) {
          if (f === e.path || wanted.has(f)) continue;
          wanted.set(f, { adapter: e.adapter, since: e.since });
          more.push(f);
        }
      }
      this.lastRefreshListed += more.length;
      statted += await forEachStat(more, (p, st) => {
        const w = wanted.get(p)!;
        classify(p, w.adapter, w.since, undefined, st);
      });
      await readKnown();
    }
    this.lastRefreshStats = statted;
    fresh.sort((a, b) => a.mtimeMs - b.mtimeMs);
    for (const f of fresh) {
      if (budget <= 0) break;
      budget -= await this.tryRefreshFile(f.adapter, f.path, f, budget);
    }
    if (!scope) {
      for (const path of [...this.files.keys()]) if (!wanted.has(path)) this.drop(path);
    } else {
      // files no live agent's listing has included for the retention window are let go
      for (const [path, f] of this.files) if (now - f.listedAt > this.retainMs) this.drop(path);
    }
    const cutoff = now - this.retainMs;
    const writeCutoff = now - this.writeRetainMs;
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

  /** A listed file no longer cold (read, gone, or changed): looked at on every refresh while listed. */
  private uncold(L: Listing, path: string): void {
    if (L.cold.delete(path)) this.coldCount--;
    L.hot.add(path);
  }

  private dropListing(key: string, L: Listing): void {
    this.coldCount -= L.cold.size;
    this.listings.delete(key);
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
        forkedFromSessionId: null,
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
      listedAt: this.now(),
    };
  }

  /** Reads what is new in one file; returns the bytes read. One bad file never stops a refresh. */
  private async tryRefreshFile(adapter: Adapter, path: string, st: { size: number; mtimeMs: number; ino: number }, budget: number): Promise<number> {
    try {
      return await this.refreshFile(adapter, path, st, budget);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== "ENOENT") this.warnings.push(`${path}: ${(err as Error).message}`);
      return 0;
    }
  }

  private async refreshFile(adapter: Adapter, path: string, st: { size: number; mtimeMs: number; ino: number }, budget: number): Promise<number> {
    let f = this.files.get(path);
    if (f && f.meta.size === st.size && f.meta.mtimeMs === st.mtimeMs && f.ino === st.ino) return 0;
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
    let bytes = 0;
    let caughtUp = true;
    if (state.parser.whole) {
      const r = await readRegularFile(path, MAX_WHOLE_FILE_BYTES);
      if (r === "too-large") {
        this.warnings.push(`${path}: ${st.size} bytes is over the ${MAX_WHOLE_FILE_BYTES}-byte limit for whole-file transcripts; skipped`);
      } else if (r) {
        bytes = r.size;
        state.parser.whole(r.text, sink);
      }
    } else {
      const r = await this.reader.read(path, (line) => state.parser.line!(line, sink), (w) => this.warnings.push(w), {
        tailBytes: this.recentOnly?.tailBytes,
        maxBytes: Math.max(0, budget),
        completeTail: state.parser.jsonLines ? isWholeJsonObject : undefined,
      });
      bytes = r.bytes;
      if (r.behind) caughtUp = false;
      if (r.reset) {
        // Start over: forget what this file contributed, then read it again from the start.
        this.warnings.push(`${path}: ${r.reset === "truncated" ? "truncated" : "replaced"}; re-reading from the start`);
        const listedAt = state.listedAt;
        this.drop(path);
        this.reader.forget(path);
        const fresh = this.newState(adapter, path, -1, st.mtimeMs, st.ino);
        fresh.listedAt = listedAt;
        this.files.set(path, fresh);
        return bytes + (await this.refreshFile(adapter, path, st, budget - bytes));
      }
    }
    this.lastRefreshBytes += bytes;
    // a file read only in part keeps its old size, so the next refresh reads on
    if (caughtUp) {
      state.meta.size = st.size;
      state.meta.mtimeMs = st.mtimeMs;
    }
    state.ino = st.ino;
    state.seen = true;
    return bytes;
  }

  private applyMeta(f: FileState, p: MetaPatch): void {
    if (p.cwd !== undefined) f.meta.cwd = p.cwd;
    if (p.sessionId !== undefined) f.meta.sessionId = p.sessionId;
    if (p.model !== undefined) f.meta.model = p.model;
    if (p.parentSessionId !== undefined) f.meta.parentSessionId = p.parentSessionId;
    if (p.forkedFromSessionId !== undefined) f.meta.forkedFromSessionId = p.forkedFromSessionId;
    if (p.reportedSessionUsd !== undefined) {
      f.meta.reportedSessionUsd = p.reportedSessionUsd;
      f.totals.usd = p.reportedSessionUsd;
    }
  }

  /**
   * The counting rule (docs/counting.md): a response with a key counts once, in the first file
   * read that has it; later lines with the same key only raise its usage to the largest seen
   * (the lines of one streamed response), and a copy elsewhere (resume, fork, sub-agent replay)
   * is skipped however long ago the original was read.
   */
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
        if (!this.seenKeys.add(e.dedupeKey, this.fileId(f.meta.path))) return;
        this.mergeable.set(e.dedupeKey, { path: f.meta.path, event: e });
        if (this.mergeable.size >= MAX_MERGEABLE / 2) {
          this.mergeableOld = this.mergeable;
          this.mergeable = new Map();
        }
      }
      if (e.kind === "request") {
        if (!e.model && f.meta.model) e.model = f.meta.model;
        f.totals.requests++;
        addUsage(f.totals.usage, e.usage);
        this.addCost(f, e.usage, e.model, e.reportedUsd, e.t, inputTokens(e.usage));
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

  private addCost(f: FileState, usage: TokenUsage, model: string | null, reported: number | null, t: number, tierInput: number): void {
    if (f.meta.reportedSessionUsd !== null && f.meta.reportedSessionUsd !== undefined) return;
    const price = priceFor(model);
    if (price) f.totals.usd = (f.totals.usd ?? 0) + costUsd(usage, price, t, tierInput);
    else if (reported !== null) f.totals.usd = (f.totals.usd ?? 0) + reported;
    else if (usage.input + usage.output + usage.cacheRead + usage.cacheWrite5m + usage.cacheWrite1h > 0) f.totals.unpriced = true;
  }

  /** A response repeated on a later line counts once; keep the largest usage seen. */
  private mergeUsage(path: string, prior: Extract<TranscriptEvent, { kind: "request" }>, next: Extract<TranscriptEvent, { kind: "request" }>): void {
    const owner = this.files.get(path);
    if (!owner) return;
    const before = { ...prior.usage };
    let grew = false;
    for (const k of Object.keys(before) as Array<keyof TokenUsage>) {
      if (next.usage[k] > prior.usage[k]) {
        prior.usage[k] = next.usage[k];
        grew = true;
      }
    }
    if (!grew) return;
    const delta = emptyUsage();
    for (const k of Object.keys(delta) as Array<keyof TokenUsage>) delta[k] = prior.usage[k] - before[k];
    addUsage(owner.totals.usage, delta);
    // re-price the whole response: growing past a long-context threshold re-prices all of it
    const price = priceFor(prior.model);
    if (price && (owner.meta.reportedSessionUsd ?? null) === null) {
      owner.totals.usd = (owner.totals.usd ?? 0) - costUsd(before, price, prior.t, inputTokens(before)) + costUsd(prior.usage, price, prior.t);
    } else this.addCost(owner, delta, prior.model, null, prior.t, inputTokens(prior.usage));
  }
}

/** What a live refresh keeps of one project folder's listing. */
interface Listing {
  /** The paths it listed last time (the same strings while the folder is unchanged: see `listing.ts`). */
  paths: readonly string[];
  /** Listed files too old to be a live session's when last looked at, least recently looked at first. */
  cold: Set<string>;
  /** Listed files looked at on every refresh (recent, being read, or new in the folder). */
  hot: Set<string>;
  /** When every listed file was last looked at: an agent started after it may resume any of them. */
  fullLookAt: number;
}

/** The same paths in the same order (an unchanged folder lists the very same strings: a pointer compare each). */
function sameList(a: readonly string[], b: readonly string[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

const ENOENT = Object.assign(new Error("no such file"), { code: "ENOENT" });

/**
 * Stats each path (following symlinks, as `stat` does; the reader refuses what is not a regular
 * file) and hands the result (or the error) to `visit` at once, synchronously in slices of at
 * most `STAT_SLICE_MS` with the event loop given a turn between slices. Returns how many.
 */
async function forEachStat(paths: readonly string[], visit: (path: string, st: Stats | Error) => void): Promise<number> {
  let sliceStart = performance.now();
  for (let i = 0; i < paths.length; i++) {
    const path = paths[i]!;
    let st: Stats | Error;
    try {
      st = statSync(path, { throwIfNoEntry: false }) ?? ENOENT;
    } catch (err) {
      st = err as Error;
    }
    visit(path, st);
    if ((i & 63) === 63 && performance.now() - sliceStart > STAT_SLICE_MS) {
      await new Promise((r) => setImmediate(r));
      sliceStart = performance.now();
    }
  }
  return paths.length;
}

/** The location variables that decide an agent's roots, as one key (agents sharing them share a listing). */
function rootsKey(env: NodeJS.ProcessEnv): string {
  return [env.HOME, env.CLAUDE_CONFIG_DIR, env.CODEX_HOME, env.GEMINI_DIR, env.COPILOT_HOME].join("\0");
}
