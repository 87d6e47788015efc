import { createHash } from "node:crypto";

/** Longest project folder name Claude Code writes whole (2.1.x). */
export const CLAUDE_MAX_PROJECT_DIR = 200;

/**
 * The 32-bit string hash Claude Code names long project folders with (its code calls it djb2;
 * it is 31·h + c from 0, Java's `hashCode`), over UTF-16 code units as JavaScript strings are.
 */
function claudeHash(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = ((h << 5) - h + s.charCodeAt(i)) | 0;
  return h;
}

/**
 * Claude names a project dir after the cwd with every non-alphanumeric character replaced by
 * `-`; a name longer than 200 characters is cut there and given `-` and the path's hash in
 * base 36 (seen written by Claude Code 2.1.332 for a 241-character cwd, and in its code).
 */
export function claudeProjectDir(cwd: string): string {
  const name = cwd.replace(/[^A-Za-z0-9]/g, "-");
  if (name.length <= CLAUDE_MAX_PROJECT_DIR) return name;
  return `${name.slice(0, CLAUDE_MAX_PROJECT_DIR)}-${Math.abs(claudeHash(cwd)).toString(36)}`;
}

/** Gemini CLI before 0.60 named a project dir after the SHA-256 of the cwd. */
export function geminiProjectHash(cwd: string): string {
  return createHash("sha256").update(cwd).digest("hex");
}
