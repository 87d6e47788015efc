import { createRequire } from "node:module";
import { tildify } from "../util/home.js";

/**
 * The SQLite driver, `better-sqlite3`, is an optional dependency: it is a native addon that
 * builds with a C++ compiler, and the tool must install and run without one. It is loaded
 * here, on first use, only by the commands that keep or read history; when it is missing,
 * they say so (`HistoryUnavailableError`) and everything else works unchanged.
 *
 * Only the small part of the driver's API we use is typed here, so the package compiles
 * without the driver's type definitions.
 */
export interface Statement<P extends unknown[] = unknown[], R = unknown> {
  run(...params: P): { changes: number; lastInsertRowid: number | bigint };
  get(...params: P): R | undefined;
  all(...params: P): R[];
  iterate(...params: P): IterableIterator<R>;
  raw(raw?: boolean): this;
  pluck(pluck?: boolean): Statement<P, R>;
}

export interface Database {
  prepare<P extends unknown[] = unknown[], R = unknown>(sql: string): Statement<P, R>;
  exec(sql: string): this;
  function(name: string, fn: (...args: unknown[]) => unknown): this;
  function(name: string, opts: { deterministic?: boolean; varargs?: boolean }, fn: (...args: unknown[]) => unknown): this;
  pragma(sql: string, opts?: { simple?: boolean }): unknown;
  transaction<A extends unknown[], T>(fn: (...args: A) => T): ((...args: A) => T) & { immediate: (...args: A) => T };
  close(): void;
  readonly open: boolean;
  readonly inTransaction: boolean;
  readonly name: string;
}

type DatabaseCtor = new (path: string, opts?: { readonly?: boolean; fileMustExist?: boolean; timeout?: number }) => Database;

/** The driver package, and the environment variable that may name another build of it. */
export const SQLITE_PACKAGE = "better-sqlite3";
export const SQLITE_MODULE_ENV = "OPENSRE_BETTER_SQLITE3";

/** History needs the driver and it is not installed (or does not load on this Node). */
export class HistoryUnavailableError extends Error {
  constructor(readonly reason: string) {
    super(
      `history needs the optional package ${SQLITE_PACKAGE} (SQLite), which is not available: ${reason}\n` +
        `install it where opensre-agents is installed: npm install ${SQLITE_PACKAGE}@12 (it builds with a C++ compiler: ` +
        `build-essential and python3 on Debian/Ubuntu, Xcode command line tools on macOS); the dashboard and every other command work without it`,
    );
    this.name = "HistoryUnavailableError";
  }
}

/** The history database cannot be used (corrupt, locked, unwritable): the message says which and what to do. */
export class HistoryError extends Error {
  constructor(message: string, readonly code: string | null = null) {
    super(message);
    this.name = "HistoryError";
  }
}

const require = createRequire(import.meta.url);
let driver: DatabaseCtor | undefined;

/** Load the driver (once). Throws HistoryUnavailableError with the reason when it cannot. */
export function loadDriver(env: NodeJS.ProcessEnv = process.env): DatabaseCtor {
  if (driver) return driver;
  const name = env[SQLITE_MODULE_ENV] || SQLITE_PACKAGE;
  let mod: unknown;
  try {
    mod = require(name);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new HistoryUnavailableError(code === "MODULE_NOT_FOUND" ? `${name} is not installed` : firstLine((err as Error).message));
  }
  const ctor = mod as DatabaseCtor;
  try {
    // the native addon loads on the first open: prove it loads now, with a clear reason if not
    new ctor(":memory:").close();
  } catch (err) {
    throw new HistoryUnavailableError(`its native addon does not load on Node ${process.versions.node}: ${firstLine((err as Error).message)}`);
  }
  driver = ctor;
  return ctor;
}

function firstLine(s: string): string {
  return s.split("\n")[0]!.trim();
}

/** The SQLite result code of a driver error (`SQLITE_BUSY`, `SQLITE_CORRUPT`, …), or null. */
export function sqliteCode(err: unknown): string | null {
  const code = (err as { code?: unknown })?.code;
  return typeof code === "string" && code.startsWith("SQLITE_") ? code : null;
}

/**
 * A driver error as the user should read it: what is wrong with which file and what to do.
 * Errors that are not the database's pass through unchanged.
 */
export function describeDbError(err: unknown, path: string): Error {
  if (err instanceof HistoryError || err instanceof HistoryUnavailableError) return err;
  const code = sqliteCode(err);
  if (!code) return err as Error;
  const where = tildify(path);
  const base = code.split("_").slice(0, 2).join("_"); // SQLITE_BUSY_SNAPSHOT → SQLITE_BUSY
  if (base === "SQLITE_BUSY" || base === "SQLITE_LOCKED") {
    return new HistoryError(`history database ${where} is locked by another process (busy for over ${BUSY_TIMEOUT_MS / 1000}s); try again`, code);
  }
  if (base === "SQLITE_CORRUPT" || base === "SQLITE_NOTADB") {
    return new HistoryError(
      `history database ${where} is corrupt (${(err as Error).message}); move it aside (mv ${where} ${where}.corrupt) and it is rebuilt from the transcripts on the next run`,
      code,
    );
  }
  return new HistoryError(`history database ${where}: ${(err as Error).message}`, code);
}

/**
 * How long a writer waits for another writer's transaction before giving up. A refresh of
 * the live view writes for a few ms; a cold backfill commits every few hundred ms.
 */
export const BUSY_TIMEOUT_MS = 5_000;
