import { closeSync, openSync, statSync } from "node:fs";
import { join } from "node:path";
import { ensureHome } from "../util/home.js";
import { migrate, SchemaTooNewError, USAGE_COUNTERS } from "./schema.js";
import { BUSY_TIMEOUT_MS, describeDbError, HistoryError, loadDriver, type Database, type Statement } from "./sqlite.js";

/** The history database, in the home dir. */
export const HISTORY_FILE = "history.db";

export const MINUTE_MS = 60_000;
export const HOUR_MS = 3_600_000;

export function historyPath(home: string): string {
  return join(home, HISTORY_FILE);
}

/**
 * One usage bucket's counters, in `USAGE_COUNTERS` order, then the shortest and longest turn
 * (ms; ±Infinity when there was none), which bound the percentiles read from the histogram.
 */
export type Counters = Float64Array;
export const TURN_MIN = USAGE_COUNTERS.length;
export const TURN_MAX = USAGE_COUNTERS.length + 1;
export const COUNTER_INDEX = {
  requests: 0,
  errors: 1,
  input: 2,
  output: 3,
  reasoning: 4,
  cache_write_5m: 5,
  cache_write_1h: 6,
  cache_read: 7,
  usd: 8,
  unpriced: 9,
  turns: 10,
  turn_ms: 11,
  /** First latency bucket; bucket i is at lat0 + i. */
  lat0: 12,
} as const;

export function newCounters(): Counters {
  const c = new Float64Array(USAGE_COUNTERS.length + 2);
  c[TURN_MIN] = Infinity;
  c[TURN_MAX] = -Infinity;
  return c;
}

export interface SessionInfo {
  provider: string;
  key: string;
  sessionId: string | null;
  parentSessionId: string | null;
  cwd: string | null;
}

export interface FileRow {
  path: string;
  provider: string;
  session: number | null;
  dev: number;
  ino: number;
  size: number;
  mtime_ms: number;
  offset: number;
  counted: number;
  cwd: string | null;
  session_id: string | null;
  parent_session_id: string | null;
  model: string | null;
  bad_lines: number;
}

/**
 * The history store: one SQLite database in WAL mode (many readers, one writer at a time;
 * a writer waits up to BUSY_TIMEOUT_MS for another). Everything that writes does so inside
 * `write()`, one short IMMEDIATE transaction, so a process killed at any instant leaves the
 * database as of its last commit. Opening applies pending schema migrations.
 */
export class HistoryStore {
  readonly db: Database;
  readonly path: string;
  private readonly models = new Map<string, number>();
  private stmts: ReturnType<HistoryStore["prepareAll"]>;

  private constructor(db: Database, path: string) {
    this.db = db;
    this.path = path;
    this.stmts = this.prepareAll();
  }

  /**
   * Open (creating it, mode 0600) the history database of `home`. Throws
   * HistoryUnavailableError without the driver and HistoryError for a database that cannot
   * be used (corrupt, locked, from a newer version), each with the words to show the user.
   */
  static open(home: string, env: NodeJS.ProcessEnv = process.env, file = historyPath(home)): HistoryStore {
    const Driver = loadDriver(env);
    ensureHome(home);
    let db: Database | undefined;
    try {
      try {
        statSync(file);
      } catch {
        closeSync(openSync(file, "a", 0o600)); // SQLite gives its -wal and -shm files the database's mode
      }
      db = new Driver(file, { timeout: BUSY_TIMEOUT_MS });
      db.pragma("journal_mode = WAL");
      db.pragma("synchronous = NORMAL"); // WAL + NORMAL: durable at checkpoints, never corrupt
      db.pragma("foreign_keys = OFF");
      db.pragma("temp_store = MEMORY");
      migrate(db);
      return new HistoryStore(db, file);
    } catch (err) {
      try {
        db?.close();
      } catch {
        /* already unusable */
      }
      if (err instanceof SchemaTooNewError) throw new HistoryError(`history database ${file}: ${err.message}`);
      throw describeDbError(err, file);
    }
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  /** Run `fn` in one write transaction (waits for another writer up to BUSY_TIMEOUT_MS). */
  write<T>(fn: () => T): T {
    try {
      return this.db.transaction(fn).immediate();
    } catch (err) {
      throw describeDbError(err, this.path);
    }
  }

  /** Run a read; driver errors become HistoryErrors. */
  read<T>(fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      throw describeDbError(err, this.path);
    }
  }

  private prepareAll() {
    const db = this.db;
    const cols = [...USAGE_COUNTERS, "turn_ms_min", "turn_ms_max"].join(", ");
    const marks = [...USAGE_COUNTERS, 1, 2].map(() => "?").join(", ");
    const sums = [
      ...USAGE_COUNTERS.map((c) => `${c} = ${c} + excluded.${c}`),
      "turn_ms_min = min(coalesce(turn_ms_min, excluded.turn_ms_min), coalesce(excluded.turn_ms_min, turn_ms_min))",
      "turn_ms_max = max(coalesce(turn_ms_max, excluded.turn_ms_max), coalesce(excluded.turn_ms_max, turn_ms_max))",
    ].join(", ");
    return {
      modelGet: db.prepare<[string], { id: number }>("SELECT id FROM models WHERE name = ?"),
      modelAdd: db.prepare<[string]>("INSERT INTO models (name) VALUES (?) ON CONFLICT (name) DO NOTHING"),
      sessionGet: db.prepare<[string, string], { id: number }>("SELECT id FROM sessions WHERE provider = ? AND key = ?"),
      sessionAdd: db.prepare<[string, string, string | null, string | null, string | null]>(
        "INSERT INTO sessions (provider, key, session_id, parent_session_id, cwd) VALUES (?, ?, ?, ?, ?) ON CONFLICT (provider, key) DO NOTHING",
      ),
      sessionSpan: db.prepare<[{ first: number; last: number; cwd: string | null; id: number }]>(
        "UPDATE sessions SET first_t = min(coalesce(first_t, @first), @first), last_t = max(coalesce(last_t, @last), @last), cwd = coalesce(cwd, @cwd) WHERE id = @id",
      ),
      sessionAgent: db.prepare<[string, number]>("UPDATE sessions SET agent = ? WHERE id = ?"),
      fileGet: db.prepare<[string], FileRow>("SELECT * FROM files WHERE path = ?"),
      fileAll: db.prepare<[], FileRow>("SELECT * FROM files"),
      filePut: db.prepare<[string, string, number | null, number, number, number, number, number, number, string | null, string | null, string | null, string | null, number]>(
        `INSERT INTO files (path, provider, session, dev, ino, size, mtime_ms, offset, counted, cwd, session_id, parent_session_id, model, bad_lines)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (path) DO UPDATE SET provider = excluded.provider, session = excluded.session, dev = excluded.dev, ino = excluded.ino,
           size = excluded.size, mtime_ms = excluded.mtime_ms, offset = excluded.offset, counted = excluded.counted, cwd = excluded.cwd,
           session_id = excluded.session_id, parent_session_id = excluded.parent_session_id, model = excluded.model, bad_lines = excluded.bad_lines`,
      ),
      keyAdd: db.prepare<[number, number]>("INSERT INTO responses (key, hour) VALUES (?, ?) ON CONFLICT (key) DO NOTHING"),
      minuteAdd: db.prepare(`INSERT INTO usage_minute (session, t, model, ${cols}) VALUES (?, ?, ?, ${marks}) ON CONFLICT (session, t, model) DO UPDATE SET ${sums}`),
      hourAdd: db.prepare(`INSERT INTO usage_hour (session, t, model, ${cols}) VALUES (?, ?, ?, ${marks}) ON CONFLICT (session, t, model) DO UPDATE SET ${sums}`),
      metaGet: db.prepare<[string], { value: string }>("SELECT value FROM meta WHERE key = ?"),
      metaPut: db.prepare<[string, string]>("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value"),
    };
  }

  /** Id of a model name ('' = none), created on first use. */
  modelId(name: string | null): number {
    const n = name ?? "";
    let id = this.models.get(n);
    if (id === undefined) {
      id = this.stmts.modelGet.get(n)?.id;
      if (id === undefined) {
        this.stmts.modelAdd.run(n);
        id = this.stmts.modelGet.get(n)!.id;
      }
      this.models.set(n, id);
    }
    return id;
  }

  /** Id of a session, created on first use. */
  sessionId(s: SessionInfo): number {
    this.stmts.sessionAdd.run(s.provider, s.key, s.sessionId, s.parentSessionId, s.cwd);
    return this.stmts.sessionGet.get(s.provider, s.key)!.id;
  }

  /** Widen a session's first/last event times. */
  sessionSpan(id: number, first: number, last: number, cwd: string | null): void {
    this.stmts.sessionSpan.run({ first, last, cwd, id });
  }

  /** Name the session after the agent it was seen running as. */
  nameSession(id: number, agent: string): void {
    this.stmts.sessionAgent.run(agent, id);
  }

  file(path: string): FileRow | undefined {
    return this.stmts.fileGet.get(path);
  }

  files(): FileRow[] {
    return this.stmts.fileAll.all();
  }

  putFile(r: FileRow): void {
    this.stmts.filePut.run(r.path, r.provider, r.session, r.dev, r.ino, r.size, r.mtime_ms, r.offset, r.counted, r.cwd, r.session_id, r.parent_session_id, r.model, r.bad_lines);
  }

  /** Remember a response key; false when it was already counted (by any process, any file). */
  addResponseKey(key: number, hour: number): boolean {
    return this.stmts.keyAdd.run(key, hour).changes === 1;
  }

  /** Add counters to the minute and hour buckets of (session, model). */
  addUsage(session: number, minute: number, model: number, c: Counters): void {
    const values: Array<number | null> = Array.from(c);
    if (!Number.isFinite(c[TURN_MIN]!)) values[TURN_MIN] = null;
    if (!Number.isFinite(c[TURN_MAX]!)) values[TURN_MAX] = null;
    this.stmts.minuteAdd.run(session, minute, model, ...values);
    this.stmts.hourAdd.run(session, Math.floor(minute / 60), model, ...values);
  }

  getMeta(key: string): string | undefined {
    return this.stmts.metaGet.get(key)?.value;
  }

  putMeta(key: string, value: string): void {
    this.stmts.metaPut.run(key, value);
  }
}

export interface StoreInfo {
  path: string;
  /** Database, write-ahead log and shared-memory index together. */
  bytes: number;
  schemaVersion: number;
  files: number;
  sessions: number;
  minuteRows: number;
  hourRows: number;
  responseKeys: number;
  incidents: number;
  /** First and last hour with usage, ms since epoch; null when empty. */
  oldest: number | null;
  newest: number | null;
}

/** What `report --store` shows. */
export function storeInfo(store: HistoryStore): StoreInfo {
  const size = (p: string) => {
    try {
      return statSync(p).size;
    } catch {
      return 0;
    }
  };
  return store.read(() => {
    const count = (table: string) => (store.db.prepare<[], { n: number }>(`SELECT count(*) AS n FROM ${table}`).get()!.n);
    const span = store.db.prepare<[], { lo: number | null; hi: number | null }>("SELECT min(t) AS lo, max(t) AS hi FROM usage_hour").get()!;
    return {
      path: store.path,
      bytes: size(store.path) + size(store.path + "-wal") + size(store.path + "-shm"),
      schemaVersion: store.db.pragma("user_version", { simple: true }) as number,
      files: count("files"),
      sessions: count("sessions"),
      minuteRows: count("usage_minute"),
      hourRows: count("usage_hour"),
      responseKeys: count("responses"),
      incidents: count("incidents"),
      oldest: span.lo === null ? null : span.lo * HOUR_MS,
      newest: span.hi === null ? null : span.hi * HOUR_MS,
    };
  });
}
