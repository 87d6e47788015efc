import { renameSync } from "node:fs";
import { join } from "node:path";
import picomatch from "picomatch";
import { z } from "zod";
import { isSameProcess } from "../fleet/procfs.js";
import { writeFileAtomicSync } from "../util/atomic.js";
import { ensureHome } from "../util/home.js";
import { withFileLock } from "../util/lock.js";
import { readStateFile, StateFileError } from "../util/statefile.js";

/**
 * Claims: an agent holds a branch (or a set of paths, by glob) so others keep off it.
 * `claims.json` in the home dir, rewritten atomically under a lock. A claim whose holder
 * process is gone (or whose pid was reused) has expired and is dropped on the next read.
 * Every claim is validated on its own: one bad record is skipped with a warning and the
 * others still hold. A file that could not be read whole is never overwritten: the next
 * write first moves it aside (`claims.json.unreadable-<time>`), so no claim is lost unseen.
 */
export const CLAIMS_FILE = "claims.json";
/** Largest claims file read (thousands of claims); a bigger one is not ours. */
export const CLAIMS_MAX_BYTES = 4 * 1024 * 1024;

const holder = z.object({
  name: z.string(),
  pid: z.number().int().positive(),
  start_time: z.number().nullable().default(null),
  claimed_at: z.string(),
});
export type ClaimHolder = z.infer<typeof holder>;
const pathClaim = holder.extend({ glob: z.string().min(1) });

export interface Claims {
  /** Branch name → holder. A null-prototype object: a branch called `constructor` or `__proto__` is data. */
  branches: Record<string, ClaimHolder>;
  paths: Array<ClaimHolder & { glob: string }>;
}

export function claimsPath(home: string): string {
  return join(home, CLAIMS_FILE);
}

export function emptyClaims(): Claims {
  return { branches: Object.create(null) as Record<string, ClaimHolder>, paths: [] };
}

export function isHolderLive(h: ClaimHolder): boolean {
  return isSameProcess(h.pid, h.start_time);
}

export interface ClaimsRead {
  claims: Claims;
  expired: string[];
  /** What could not be read, for the user; null when the file was read whole. */
  warning: string | null;
  /** True when something on disk was not understood: the file must not be overwritten as is. */
  unreadable: boolean;
}

function issue(err: z.ZodError): string {
  const i = err.issues[0]!;
  return `${i.path.length ? i.path.join(".") + ": " : ""}${i.message.replace(/^Invalid input: /, "")}`;
}

/** Parse claims text: every record on its own; what does not fit is counted, never fatal. */
export function parseClaims(text: string): { claims: Claims; skipped: string[] } {
  const claims = emptyClaims();
  const skipped: string[] = [];
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return { claims, skipped: [`not JSON (${(err as Error).message})`] };
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return { claims, skipped: ["not a claims object"] };
  const { branches, paths } = raw as { branches?: unknown; paths?: unknown };
  if (branches !== undefined) {
    if (typeof branches !== "object" || branches === null || Array.isArray(branches)) skipped.push("branches: not an object");
    else {
      for (const [b, h] of Object.entries(branches)) {
        const p = holder.safeParse(h);
        if (p.success) claims.branches[b] = p.data;
        else skipped.push(`branch ${b}: ${issue(p.error)}`);
      }
    }
  }
  if (paths !== undefined) {
    if (!Array.isArray(paths)) skipped.push("paths: not a list");
    else {
      paths.forEach((c, i) => {
        const p = pathClaim.safeParse(c);
        if (p.success) claims.paths.push(p.data);
        else skipped.push(`paths[${i}]: ${issue(p.error)}`);
      });
    }
  }
  return { claims, skipped };
}

/** Read the claims; expired ones are left out. Records that do not fit are skipped with a warning. */
export function readClaims(home: string): ClaimsRead {
  let text: string | null;
  try {
    text = readStateFile(claimsPath(home), CLAIMS_MAX_BYTES)?.toString("utf8") ?? null;
  } catch (err) {
    if (!(err instanceof StateFileError)) throw err;
    return { claims: emptyClaims(), expired: [], warning: `${CLAIMS_FILE}: ${err.message}; ignoring it`, unreadable: true };
  }
  if (text === null) return { claims: emptyClaims(), expired: [], warning: null, unreadable: false };
  const { claims: all, skipped } = parseClaims(text);
  const warning = skipped.length ? `${CLAIMS_FILE}: skipped ${skipped.length === 1 ? skipped[0] : `${skipped.length} records (${skipped[0]}; …)`}` : null;
  const expired: string[] = [];
  const claims = emptyClaims();
  for (const [b, h] of Object.entries(all.branches)) {
    if (isHolderLive(h)) claims.branches[b] = h;
    else expired.push(b);
  }
  for (const p of all.paths) {
    if (isHolderLive(p)) claims.paths.push(p);
    else expired.push(p.glob);
  }
  return { claims, expired, warning, unreadable: skipped.length > 0 };
}

/**
 * Read-modify-write under the lock; `fn` returns the result and whether to write. A file that
 * was not read whole is moved aside before the new one is written (`onWarning` says where).
 */
export async function updateClaims<T>(home: string, fn: (c: Claims) => { result: T; write: boolean }, onWarning?: (w: string) => void): Promise<T> {
  ensureHome(home);
  return withFileLock(claimsPath(home) + ".lock", () => {
    const { claims, expired, warning, unreadable } = readClaims(home);
    const { result, write } = fn(claims);
    if (write || expired.length) {
      if (unreadable) {
        const aside = `${claimsPath(home)}.unreadable-${new Date().toISOString().replace(/[:.]/g, "-")}`;
        renameSync(claimsPath(home), aside); // a link or FIFO is moved, never followed
        onWarning?.(`${warning ?? `${CLAIMS_FILE} could not be read`}; kept it aside as ${aside}`);
      }
      writeFileAtomicSync(claimsPath(home), JSON.stringify(claims, null, 2) + "\n");
    }
    return result;
  });
}

/** The live path claim (if any) covering an absolute path, held by someone other than `exceptPids`. */
export function pathClaimFor(claims: Claims, path: string, exceptPids: ReadonlySet<number> = new Set()): (ClaimHolder & { glob: string }) | undefined {
  return claims.paths.find((c) => !exceptPids.has(c.pid) && picomatch(c.glob, { dot: true })(path));
}
