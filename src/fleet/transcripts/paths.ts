import { createHash } from "node:crypto";

/** Claude names a project dir after the cwd with every non-alphanumeric character replaced by `-`. */
export function claudeProjectDir(cwd: string): string {
  return cwd.replace(/[^A-Za-z0-9]/g, "-");
}

/** Gemini CLI before 0.60 named a project dir after the SHA-256 of the cwd. */
export function geminiProjectHash(cwd: string): string {
  return createHash("sha256").update(cwd).digest("hex");
}
