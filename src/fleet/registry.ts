import { existsSync } from "node:fs";
import { join } from "node:path";
import { createRequire } from "node:module";
import type { AgentRecord, Provider } from "./model.js";
import { isSameProcess, processStartTime } from "./procfs.js";
import { writeFileAtomicSync } from "../util/atomic.js";
import { ensureHome } from "../util/home.js";
import { withFileLock } from "../util/lock.js";
import { readStateFile } from "../util/statefile.js";

/**
 * The agent registry, `agents.jsonl` in the home dir: one JSON record per line.
 * Read-modify-write happens under an exclusive flock on `agents.jsonl.lock` and the
 * file is replaced atomically, so concurrent `register`/`forget` from several
 * processes never lose an update. Lines that do not parse are kept verbatim on
 * rewrite, byte for byte (they are not ours to delete), and reported as warnings.
 */

export const REGISTRY_FILE = "agents.jsonl";
/** Largest registry read: tens of thousands of records; anything bigger is not a registry. */
export const REGISTRY_MAX_BYTES = 16 * 1024 * 1024;

/** The record schema (zod, loaded on the first registry line read: an empty registry never loads it). */
let recordSchemaCache: ReturnType<typeof buildRecordSchema> | undefined;
function buildRecordSchema() {
  const { z } = createRequire(import.meta.url)("zod") as typeof import("zod");
  return z.object({
    name: z.string().min(1),
    pid: z.number().int().positive(),
    command: z.string().default(""),
    registered_at: z.string().default(""),
    source: z.enum(["registered", "discovered"]).default("registered"),
    provider: z.string().default("unknown"),
    waits_on: z.number().int().positive().nullable().default(null),
    waits_since: z.string().nullable().default(null),
    start_time: z.number().nullable().default(null),
  });
}
function recordSchema(): ReturnType<typeof buildRecordSchema> {
  return (recordSchemaCache ??= buildRecordSchema());
}

export interface RegistryContents {
  records: AgentRecord[];
  /** Lines that did not parse, as text (for display). */
  corrupt: string[];
  /** The same lines as they are on disk, byte for byte: what a rewrite keeps. */
  corruptBytes: Buffer[];
  /** One warning per corrupt line: `agents.jsonl:3: skipped corrupt line (…)`. */
  warnings: string[];
}

export function registryPath(home: string): string {
  return join(home, REGISTRY_FILE);
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

export function parseRegistry(content: string | Buffer): RegistryContents {
  const records: AgentRecord[] = [];
  const corrupt: string[] = [];
  const corruptBytes: Buffer[] = [];
  const warnings: string[] = [];
  const buf = typeof content === "string" ? Buffer.from(content, "utf8") : content;
  let start = 0;
  for (let i = 1; start < buf.length; i++) {
    let end = buf.indexOf(0x0a, start);
    if (end < 0) end = buf.length;
    const bytes = buf.subarray(start, end);
    start = end + 1;
    let line: string;
    let reason: string;
    try {
      line = utf8.decode(bytes);
    } catch {
      corrupt.push(bytes.toString("utf8"));
      corruptBytes.push(Buffer.from(bytes));
      warnings.push(`${REGISTRY_FILE}:${i}: skipped corrupt line (not UTF-8 text)`);
      continue;
    }
    if (line.trim() === "") continue;
    try {
      const parsed = recordSchema().safeParse(JSON.parse(line));
      if (parsed.success) {
        records.push(parsed.data as AgentRecord);
        continue;
      }
      reason = parsed.error.issues.map((iss) => `${iss.path.join(".") || "record"}: ${iss.message}`).join("; ");
    } catch (err) {
      reason = (err as Error).message;
    }
    corrupt.push(line);
    corruptBytes.push(Buffer.from(bytes));
    warnings.push(`${REGISTRY_FILE}:${i}: skipped corrupt line (${reason})`);
  }
  return { records, corrupt, corruptBytes, warnings };
}

/**
 * Read the registry without locking (a reader sees a whole old or new file, never half).
 * Never through a symbolic link, never a FIFO, at most REGISTRY_MAX_BYTES.
 */
export function readRegistry(home: string): RegistryContents {
  const buf = readStateFile(registryPath(home), REGISTRY_MAX_BYTES);
  if (buf === null) return { records: [], corrupt: [], corruptBytes: [], warnings: [] };
  return parseRegistry(buf);
}

/**
 * Locked read-modify-write. `fn` gets the current records and returns the new list;
 * the file is rewritten only when something changed.
 */
export async function updateRegistry<T>(
  home: string,
  fn: (records: AgentRecord[]) => { records: AgentRecord[]; result: T },
): Promise<T> {
  ensureHome(home);
  const path = registryPath(home);
  return withFileLock(path + ".lock", () => {
    const current = readRegistry(home);
    const before = JSON.stringify(current.records);
    const { records, result } = fn(current.records.map((r) => ({ ...r })));
    if (JSON.stringify(records) !== before) {
      const lines = [...records.map((r) => Buffer.from(JSON.stringify(r), "utf8")), ...current.corruptBytes];
      writeFileAtomicSync(path, Buffer.concat(lines.flatMap((l) => [l, NEWLINE])));
    }
    return result;
  });
}

const NEWLINE = Buffer.from("\n");

export interface RegisterInput {
  pid: number;
  name?: string;
  command?: string;
  provider?: Provider;
  source?: AgentRecord["source"];
  now?: Date;
}

/** Add or replace the record for `pid` (a registered record replaces a discovered one). */
export async function registerAgent(home: string, input: RegisterInput): Promise<AgentRecord> {
  const record: AgentRecord = {
    name: input.name ?? input.provider ?? `pid-${input.pid}`,
    pid: input.pid,
    command: input.command ?? "",
    registered_at: (input.now ?? new Date()).toISOString(),
    source: input.source ?? "registered",
    provider: input.provider ?? "unknown",
    waits_on: null,
    waits_since: null,
    start_time: processStartTime(input.pid) ?? null,
  };
  return updateRegistry(home, (records) => {
    const existing = records.find((r) => r.pid === input.pid);
    if (existing && existing.source === "registered" && record.source === "discovered") {
      return { records, result: existing };
    }
    if (existing && existing.start_time === record.start_time) {
      record.waits_on = existing.waits_on;
      record.waits_since = existing.waits_since;
    }
    return { records: [...records.filter((r) => r.pid !== input.pid), record], result: record };
  });
}

/** Remove the record for `pid`; resolves to the removed record, if any. */
export async function forgetAgent(home: string, pid: number): Promise<AgentRecord | undefined> {
  return updateRegistry(home, (records) => {
    const found = records.find((r) => r.pid === pid);
    return { records: records.filter((r) => r.pid !== pid), result: found };
  });
}

/** A record still describes a live process: the pid exists and was not reused since registration. */
export function isRecordLive(record: AgentRecord): boolean {
  return isSameProcess(record.pid, record.start_time);
}

/** Remove dead and reused pids (run when the shell starts). Resolves to the removed records. */
export async function sweepRegistry(home: string, isLive: (r: AgentRecord) => boolean = isRecordLive): Promise<AgentRecord[]> {
  if (!existsSync(registryPath(home))) return [];
  return updateRegistry(home, (records) => {
    const keep = records.filter(isLive);
    return { records: keep, result: records.filter((r) => !keep.includes(r)) };
  });
}

/** The live record for `pid`, if registered (a reused pid does not match its old record). */
export function lookupAgent(home: string, pid: number): AgentRecord | undefined {
  const record = readRegistry(home).records.find((r) => r.pid === pid);
  return record && isRecordLive(record) ? record : undefined;
}
