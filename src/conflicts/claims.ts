import { readFileSync } from "node:fs";
import { join } from "node:path";
import picomatch from "picomatch";
import { z } from "zod";
import { isSameProcess } from "../fleet/procfs.js";
import { writeFileAtomicSync } from "../util/atomic.js";
import { ensureHome } from "../util/home.js";
import { withFileLock } from "../util/lock.js";

/**
 * Claims: an agent holds a branch (or a set of paths, by glob) so others keep off it.
 * `claims.json` in the home dir, rewritten atomically under a lock. A claim whose holder
 * process is gone (or whose pid was reused) has expired and is dropped on the next read.
 */
export const CLAIMS_FILE = "claims.json";

const holder = z.object({
  name: z.string(),
  pid: z.number().int().positive(),
  start_time: z.number().nullable().default(null),
  claimed_at: z.string(),
});
export type ClaimHolder = z.infer<typeof holder>;

const fileSchema = z.object({
  branches: z.record(z.string(), holder).default({}),
  paths: z.array(holder.extend({ glob: z.string() })).default([]),
});
export type Claims = z.infer<typeof fileSchema>;

export function claimsPath(home: string): string {
  return join(home, CLAIMS_FILE);
}

export function isHolderLive(h: ClaimHolder): boolean {
  return isSameProcess(h.pid, h.start_time);
}

/** Read the claims; expired ones are left out. A corrupt file reads as empty, with a warning. */
export function readClaims(home: string): { claims: Claims; expired: string[]; warning: string | null } {
  let raw: unknown = {};
  let warning: string | null = null;
  try {
    raw = JSON.parse(readFileSync(claimsPath(home), "utf8"));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") warning = `${CLAIMS_FILE}: ${(err as Error).message}; ignoring it`;
  }
  const parsed = fileSchema.safeParse(raw);
  if (!parsed.success) warning = `${CLAIMS_FILE}: not a claims file; ignoring it`;
  const all = parsed.success ? parsed.data : { branches: {}, paths: [] };
  const expired: string[] = [];
  const claims: Claims = { branches: {}, paths: [] };
  for (const [b, h] of Object.entries(all.branches)) {
    if (isHolderLive(h)) claims.branches[b] = h;
    else expired.push(b);
  }
  for (const p of all.paths) {
    if (isHolderLive(p)) claims.paths.push(p);
    else expired.push(p.glob);
  }
  return { claims, expired, warning };
}

/** Read-modify-write under the lock; `fn` returns the result and whether to write. */
export async function updateClaims<T>(home: string, fn: (c: Claims) => { result: T; write: boolean }): Promise<T> {
  ensureHome(home);
  return withFileLock(claimsPath(home) + ".lock", () => {
    const { claims, expired } = readClaims(home);
    const { result, write } = fn(claims);
    if (write || expired.length) writeFileAtomicSync(claimsPath(home), JSON.stringify(claims, null, 2) + "\n");
    return result;
  });
}

/** The live path claim (if any) covering an absolute path, held by someone other than `exceptPids`. */
export function pathClaimFor(claims: Claims, path: string, exceptPids: ReadonlySet<number> = new Set()): (ClaimHolder & { glob: string }) | undefined {
  return claims.paths.find((c) => !exceptPids.has(c.pid) && picomatch(c.glob, { dot: true })(path));
}
