import type { Database } from "./sqlite.js";

/**
 * The history schema, as a list of migrations. `PRAGMA user_version` holds how many have
 * been applied; opening a database applies the missing ones in one transaction each, so a
 * crash mid-migration leaves the previous version intact. A database written by a newer
 * version of the tool (a higher user_version) is refused rather than misread.
 *
 * Times are whole minutes or hours since the epoch (UTC), so a bucket is an integer key.
 */

/**
 * Turn latency is kept as a histogram per bucket (mergeable over any range, unlike a
 * percentile): LATENCY_BUCKETS buckets whose upper bounds grow by ×1.5 from 1 s, the last
 * one open-ended (≥ 2 h 5 min). A percentile read from it is interpolated within its
 * bucket: within ±25 % of the exact value, as with Prometheus histograms.
 */
export const LATENCY_BUCKETS = 24;
export const LATENCY_FIRST_BOUND_MS = 1000;
export const LATENCY_FACTOR = 1.5;
export const LATENCY_COLUMNS: readonly string[] = Array.from({ length: LATENCY_BUCKETS }, (_, i) => `lat${i}`);

/** Upper bound (ms) of latency bucket i; Infinity for the last. */
export function latencyBound(i: number): number {
  return i >= LATENCY_BUCKETS - 1 ? Infinity : LATENCY_FIRST_BOUND_MS * LATENCY_FACTOR ** i;
}

/** The bucket a latency falls in. */
export function latencyBucket(ms: number): number {
  if (!(ms > LATENCY_FIRST_BOUND_MS)) return 0;
  const i = Math.ceil(Math.log(ms / LATENCY_FIRST_BOUND_MS) / Math.log(LATENCY_FACTOR));
  return Math.min(LATENCY_BUCKETS - 1, Math.max(0, i));
}

/** Counters summed into a usage bucket (in this order in every usage table). */
export const USAGE_COUNTERS = [
  "requests",
  "errors",
  "input",
  "output",
  "reasoning",
  "cache_write_5m",
  "cache_write_1h",
  "cache_read",
  "usd",
  "unpriced",
  "turns",
  "turn_ms",
  ...LATENCY_COLUMNS,
] as const;

function usageTable(name: string, time = "t"): string {
  const cols = USAGE_COUNTERS.map((c) => `  ${c} ${c === "usd" ? "REAL" : "INTEGER"} NOT NULL DEFAULT 0`).join(",\n");
  return `CREATE TABLE ${name} (
  session INTEGER NOT NULL REFERENCES sessions(id),
  ${time} INTEGER NOT NULL,
  model INTEGER NOT NULL REFERENCES models(id),
${cols},
  turn_ms_min INTEGER,
  turn_ms_max INTEGER,
  PRIMARY KEY (session, ${time}, model)
) WITHOUT ROWID;
CREATE INDEX ${name}_${time} ON ${name}(${time});`;
}

function procTable(name: string): string {
  return `CREATE TABLE ${name} (
  session INTEGER NOT NULL REFERENCES sessions(id),
  t INTEGER NOT NULL,
  samples INTEGER NOT NULL DEFAULT 0,
  cpu_pct_sum REAL NOT NULL DEFAULT 0,
  cpu_samples INTEGER NOT NULL DEFAULT 0,
  rss_max INTEGER,
  status TEXT,
  PRIMARY KEY (session, t)
) WITHOUT ROWID;
CREATE INDEX ${name}_t ON ${name}(t);`;
}

export interface Migration {
  version: number;
  what: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    what: "sessions, transcript files with their offsets, usage per minute and per hour, response keys",
    sql: `
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;
CREATE TABLE models (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
INSERT INTO models (id, name) VALUES (0, '');
CREATE TABLE sessions (
  id INTEGER PRIMARY KEY,
  provider TEXT NOT NULL,
  key TEXT NOT NULL,
  session_id TEXT,
  parent_session_id TEXT,
  cwd TEXT,
  agent TEXT,
  first_t INTEGER,
  last_t INTEGER,
  UNIQUE (provider, key)
);
CREATE TABLE files (
  path TEXT PRIMARY KEY,
  provider TEXT NOT NULL,
  session INTEGER REFERENCES sessions(id),
  dev INTEGER NOT NULL DEFAULT 0,
  ino INTEGER NOT NULL DEFAULT 0,
  size INTEGER NOT NULL DEFAULT 0,
  mtime_ms REAL NOT NULL DEFAULT 0,
  offset INTEGER NOT NULL DEFAULT 0,
  counted INTEGER NOT NULL DEFAULT 0,
  cwd TEXT,
  session_id TEXT,
  parent_session_id TEXT,
  model TEXT,
  bad_lines INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TABLE responses (key INTEGER PRIMARY KEY, hour INTEGER NOT NULL);
CREATE INDEX responses_hour ON responses(hour);
${usageTable("usage_minute")}
${usageTable("usage_hour")}
`,
  },
  {
    version: 2,
    what: "process samples (cpu, memory, status) per minute and hour; incidents with their timeline",
    sql: `
${procTable("proc_minute")}
${procTable("proc_hour")}
CREATE TABLE incidents (
  id TEXT PRIMARY KEY,
  agent TEXT NOT NULL,
  pid INTEGER,
  provider TEXT,
  slo TEXT NOT NULL,
  detail TEXT,
  opened_at INTEGER NOT NULL,
  acked_at INTEGER,
  resolved_at INTEGER,
  resolution TEXT
) WITHOUT ROWID;
CREATE INDEX incidents_opened ON incidents(opened_at);
CREATE TABLE incident_events (
  id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  event TEXT NOT NULL,
  at INTEGER NOT NULL,
  detail TEXT,
  PRIMARY KEY (id, seq)
) WITHOUT ROWID;
`,
  },
  {
    version: 3,
    what: "usage per session, local day and model (reports over months read days, not hours)",
    // `day` is days since 1970-01-01 of the local date in the zone named by meta `day_zone`
    // (calendar.ts). A database that already holds usage starts with its day table stale
    // (day_zone ''): reports read hours until a report rebuilds the days (store.ts).
    sql: `
${usageTable("usage_day", "day")}
INSERT INTO meta (key, value) SELECT 'day_zone', '' WHERE EXISTS (SELECT 1 FROM usage_hour);
`,
  },
  {
    version: 4,
    what: "response keys without an index by hour",
    // Every counted response inserts its key; the hour index doubled that work (a backfill
    // inserts tens of thousands of keys at random places) for the one reader that used it,
    // the hourly prune, which now scans the table: ~20 ms for 100,000 keys.
    sql: `
DROP INDEX IF EXISTS responses_hour;
`,
  },
];

export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

export class SchemaTooNewError extends Error {
  constructor(readonly found: number) {
    super(`schema version ${found} is newer than this opensre-agents understands (${SCHEMA_VERSION}); upgrade opensre-agents`);
  }
}

/**
 * Apply the migrations after the database's version, up to `target` (tests stop early to
 * build an older schema). Each runs in its own write transaction and re-reads the version
 * inside it, so two processes opening a new database at once apply each migration once.
 */
export function migrate(db: Database, target = SCHEMA_VERSION): { from: number; to: number } {
  const version = () => db.pragma("user_version", { simple: true }) as number;
  const from = version();
  if (from > SCHEMA_VERSION) throw new SchemaTooNewError(from);
  for (const m of MIGRATIONS) {
    if (m.version <= from || m.version > target) continue;
    db.transaction(() => {
      if (version() >= m.version) return;
      db.exec(m.sql);
      db.pragma(`user_version = ${m.version}`);
    }).immediate();
  }
  return { from, to: version() };
}
