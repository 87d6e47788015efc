import { closeSync, openSync, statSync } from "node:fs";
import { join } from "node:path";
import { ensureHome } from "../util/home.js";
import { hourToDay, zoneId } from "./calendar.js";
import { migrate, SchemaTooNewError, USAGE_COUNTERS } from "./schema.js";
import { BUSY_TIMEOUT_MS, describeDbError, HistoryError, loadDriver, type Database, type Statement } from "./sqlite.js";

/** The history database, in the home dir. */
export const HISTORY_FILE = "history.db";

export const MINUTE_MS = 60_000;
export const HOUR_MS = 3_600_000;

/** Meta key naming the zone the day table is in: absent = no usage yet, '' = stale (rebuild before use). */
export const DAY_ZONE_META = "day_zone";

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

/** Response keys stored per statement (two parameters each). */
export const KEYS_PER_INSERT = 64;

/** The counters before the latency histogram (requests … turn_ms): all a bucket without turns holds. */
export const PLAIN_COUNTERS = 12;

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

  /** Local day of an hour, in the zone of the query or write in progress (for the SQL function local_day). */
  private dayOf: (hour: number) => number = hourToDay();

  private constructor(db: Database, path: string) {
    this.db = db;
    this.path = path;
    this.stmts = this.prepareAll();
    db.function("local_day", (hour) => this.dayOf(Number(hour)));
  }

  /** The local-day function of the process's zone now; also what SQL's local_day() uses until the next call. */
  days(): (hour: number) => number {
    this.dayOf = hourToDay();
    return this.dayOf;
  }

  /** The day table is complete in the process's zone: reports may read it. */
  daysCurrent(): boolean {
    return this.getMeta(DAY_ZONE_META) === zoneId();
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

  /**
   * Open a write transaction that the following `write()` calls join (each as a savepoint) until
   * `commitBatch()`: many small writes in one commit. The caller keeps it short (it holds the
   * write lock) and never awaits while it is open.
   */
  beginBatch(): void {
    if (this.db.inTransaction) return;
    try {
      this.db.exec("BEGIN IMMEDIATE");
    } catch (err) {
      throw describeDbError(err, this.path);
    }
  }

  commitBatch(): void {
    if (!this.db.inTransaction) return;
    try {
      this.db.exec("COMMIT");
    } catch (err) {
      this.rollbackBatch();
      throw describeDbError(err, this.path);
    }
  }

  rollbackBatch(): void {
    try {
      if (this.db.inTransaction) this.db.exec("ROLLBACK");
    } catch {
      /* nothing to roll back: SQLite already did (a failed COMMIT, a full disk) */
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
    const plain = USAGE_COUNTERS.slice(0, PLAIN_COUNTERS);
    const plainCols = plain.join(", ");
    const plainMarks = plain.map(() => "?").join(", ");
    const plainSums = plain.map((c) => `${c} = ${c} + excluded.${c}`).join(", ");
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
      // one statement per power of two up to KEYS_PER_INSERT: any number of keys takes at most log2 statements past the full ones
      keysAdd: Array.from({ length: Math.log2(KEYS_PER_INSERT) + 1 }, (_, i) =>
        db.prepare<number[], number>(`INSERT INTO responses (key, hour) VALUES ${Array.from({ length: 2 ** i }, () => "(?, ?)").join(", ")} ON CONFLICT (key) DO NOTHING RETURNING key`).pluck(),
      ),
      minuteAdd: db.prepare(`INSERT INTO usage_minute (session, t, model, ${cols}) VALUES (?, ?, ?, ${marks}) ON CONFLICT (session, t, model) DO UPDATE SET ${sums}`),
      hourAdd: db.prepare(`INSERT INTO usage_hour (session, t, model, ${cols}) VALUES (?, ?, ?, ${marks}) ON CONFLICT (session, t, model) DO UPDATE SET ${sums}`),
      dayAdd: db.prepare(`INSERT INTO usage_day (session, day, model, ${cols}) VALUES (?, ?, ?, ${marks}) ON CONFLICT (session, day, model) DO UPDATE SET ${sums}`),
      // a bucket without turns has an empty latency histogram: the upsert binds the 12 plain counters only
      minuteAddPlain: db.prepare(`INSERT INTO usage_minute (session, t, model, ${plainCols}) VALUES (?, ?, ?, ${plainMarks}) ON CONFLICT (session, t, model) DO UPDATE SET ${plainSums}`),
      hourAddPlain: db.prepare(`INSERT INTO usage_hour (session, t, model, ${plainCols}) VALUES (?, ?, ?, ${plainMarks}) ON CONFLICT (session, t, model) DO UPDATE SET ${plainSums}`),
      dayAddPlain: db.prepare(`INSERT INTO usage_day (session, day, model, ${plainCols}) VALUES (?, ?, ?, ${plainMarks}) ON CONFLICT (session, day, model) DO UPDATE SET ${plainSums}`),
      anyHour: db.prepare<[], { n: number }>("SELECT EXISTS (SELECT 1 FROM usage_hour) AS n"),
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

  /** The model names counted so far, the most recently first seen first (at most `limit`). */
  modelNames(limit: number): string[] {
    return this.read(() => this.db.prepare<[number], string>("SELECT name FROM models WHERE name != '' ORDER BY id DESC LIMIT ?").pluck().all(limit));
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

  /**
   * Remember response keys (with their hour); returns those that were new. Stored
   * KEYS_PER_INSERT at a time: one statement per key was a fifth of a backfill's counting
   * (and the rest of a slice's keys, one by one, still a tenth).
   */
  addResponseKeys(keys: ReadonlyArray<readonly [number, number]>): Set<number> {
    const added = new Set<number>();
    const stmts = this.stmts.keysAdd;
    let i = 0;
    // KEYS_PER_INSERT at a time, then the rest in falling powers of two (45 keys: 32, 8, 4, 1)
    for (let p = stmts.length - 1; p >= 0; p--) {
      const n = 2 ** p;
      while (i + n <= keys.length) {
        const args: number[] = [];
        for (let j = i; j < i + n; j++) args.push(keys[j]![0], keys[j]![1]);
        for (const k of stmts[p]!.all(...args)) added.add(k);
        i += n;
      }
    }
    return added;
  }

  /** Add counters to the minute, hour and day buckets of (session, model), in the caller's write transaction. */
  addUsage(session: number, minute: number, model: number, c: Counters): void {
    const b = this.usageBatch();
    b.add(session, minute, model, c);
    b.flush();
  }

  /**
   * Usage to add in the caller's write transaction: summed per minute, hour and local day in
   * memory, then written with one upsert per bucket (a slice of a transcript touches a few
   * hours and one or two days, however many minutes).
   */
  usageBatch(minuteFloor = -Infinity): UsageBatch {
    return new UsageBatch(this, minuteFloor);
  }

  /** Write one bucket row (`table` usage_minute, usage_hour or usage_day). */
  putUsage(table: "minute" | "hour" | "day", session: number, t: number, model: number, c: Counters): void {
    if (c[COUNTER_INDEX.turns] === 0) {
      // no turn: the histogram and the shortest/longest turn are empty (only turns fill them)
      const st = table === "minute" ? this.stmts.minuteAddPlain : table === "hour" ? this.stmts.hourAddPlain : this.stmts.dayAddPlain;
      st.run(session, t, model, c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9], c[10], c[11]);
      return;
    }
    const values: Array<number | null> = Array.from(c);
    if (!Number.isFinite(c[TURN_MIN]!)) values[TURN_MIN] = null;
    if (!Number.isFinite(c[TURN_MAX]!)) values[TURN_MAX] = null;
    const st = table === "minute" ? this.stmts.minuteAdd : table === "hour" ? this.stmts.hourAdd : this.stmts.dayAdd;
    st.run(session, t, model, ...values);
  }

  /**
   * Whether usage written now goes to the day table too (in a write transaction): yes when the
   * day table is in this process's zone, or when there is no usage yet (this zone claims it).
   * Usage written in another zone marks the day table stale; a report rebuilds it
   * (`rebuildDays`), and until then reports read hour rows.
   */
  daysForWrite(): boolean {
    const zone = zoneId();
    const stored = this.getMeta(DAY_ZONE_META);
    if (stored === zone) return true;
    if (stored === undefined && this.stmts.anyHour.get()!.n === 0) {
      this.putMeta(DAY_ZONE_META, zone);
      return true;
    }
    if (stored !== "") this.putMeta(DAY_ZONE_META, "");
    return false;
  }

  /** The day table was marked stale (migrated from a schema without it, or usage written in another zone): rebuild it before use. */
  daysStale(): boolean {
    return this.getMeta(DAY_ZONE_META) === "";
  }

  /** Rebuild the day table from the hour rows in the process's zone (one write transaction). */
  rebuildDays(): void {
    const cols = [...USAGE_COUNTERS, "turn_ms_min", "turn_ms_max"];
    const sums = [...USAGE_COUNTERS.map((c) => `sum(${c})`), "min(turn_ms_min)", "max(turn_ms_max)"].join(", ");
    this.write(() => {
      this.days();
      this.db.exec("DELETE FROM usage_day");
      this.db.exec(`INSERT INTO usage_day (session, day, model, ${cols.join(", ")}) SELECT session, local_day(t) AS d, model, ${sums} FROM usage_hour GROUP BY session, d, model`);
      this.putMeta(DAY_ZONE_META, zoneId());
    });
  }

  getMeta(key: string): string | undefined {
    return this.stmts.metaGet.get(key)?.value;
  }

  putMeta(key: string, value: string): void {
    this.stmts.metaPut.run(key, value);
  }
}

/** See `HistoryStore.usageBatch`. */
export class UsageBatch {
  private readonly minutes = new Map<string, [number, number, number, Counters]>();

  /** `minuteFloor`: minutes before it roll into hours and days but get no minute row (past retention). */
  constructor(
    private readonly store: HistoryStore,
    private readonly minuteFloor = -Infinity,
  ) {}

  add(session: number, minute: number, model: number, c: Counters): void {
    const k = `${session}:${minute}:${model}`;
    const have = this.minutes.get(k);
    if (have) addCounters(have[3], c);
    else this.minutes.set(k, [session, minute, model, c.slice()]);
  }

  get size(): number {
    return this.minutes.size;
  }

  /** Write the buckets (in the caller's write transaction). */
  flush(): void {
    if (!this.minutes.size) return;
    const hours = new Map<string, [number, number, number, Counters]>();
    const roll = (into: Map<string, [number, number, number, Counters]>, session: number, t: number, model: number, c: Counters) => {
      const k = `${session}:${t}:${model}`;
      const have = into.get(k);
      if (have) addCounters(have[3], c);
      else into.set(k, [session, t, model, c.slice()]);
    };
    for (const [session, minute, model, c] of this.minutes.values()) {
      if (minute >= this.minuteFloor) this.store.putUsage("minute", session, minute, model, c);
      roll(hours, session, Math.floor(minute / 60), model, c);
    }
    const days = this.store.daysForWrite() ? new Map<string, [number, number, number, Counters]>() : null;
    const dayOf = days ? this.store.days() : null;
    for (const [session, hour, model, c] of hours.values()) {
      this.store.putUsage("hour", session, hour, model, c);
      if (days) roll(days, session, dayOf!(hour), model, c);
    }
    if (days) for (const [session, day, model, c] of days.values()) this.store.putUsage("day", session, day, model, c);
    this.minutes.clear();
  }
}

/** Add counters (sums; the shortest and longest turn as min and max). */
export function addCounters(into: Counters, c: Counters): void {
  for (let i = 0; i < TURN_MIN; i++) into[i]! += c[i]!;
  into[TURN_MIN] = Math.min(into[TURN_MIN]!, c[TURN_MIN]!);
  into[TURN_MAX] = Math.max(into[TURN_MAX]!, c[TURN_MAX]!);
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
  dayRows: number;
  /** Zone of the day table; '' when it must be rebuilt. */
  dayZone: string | null;
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
      dayRows: count("usage_day"),
      dayZone: store.getMeta(DAY_ZONE_META) ?? null,
      responseKeys: count("responses"),
      incidents: count("incidents"),
      oldest: span.lo === null ? null : span.lo * HOUR_MS,
      newest: span.hi === null ? null : span.hi * HOUR_MS,
    };
  });
}
