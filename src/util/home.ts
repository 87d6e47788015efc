import { mkdirSync, chmodSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

/** Mode of the home directory: only the owner may list or enter it (the bus socket lives here). */
export const HOME_DIR_MODE = 0o700;

/**
 * The one directory that holds all of our state: `~/.config/opensre`,
 * or `$OPENSRE_HOME` when set (tests always set it to a temp dir).
 */
export function opensreHome(env: NodeJS.ProcessEnv = process.env): string {
  const override = env.OPENSRE_HOME;
  if (override !== undefined && override.trim() !== "") return override;
  return join(homedir(), ".config", "opensre");
}

/**
 * Create the home directory (and parents) if missing, with mode 0700.
 * An existing directory keeps its mode unless we created it: a user who chose
 * wider permissions on purpose is not overridden, except that group/other write
 * access is removed, since anyone who can write here could hijack the bus socket.
 */
export function ensureHome(dir: string): string {
  mkdirSync(dir, { recursive: true, mode: HOME_DIR_MODE });
  const st = statSync(dir);
  if ((st.mode & 0o022) !== 0) {
    try {
      chmodSync(dir, st.mode & 0o755 & ~0o022);
    } catch {
      // not ours to fix (another owner); the caller's later writes will report the real error
    }
  }
  return dir;
}

/** Replace the user's home directory prefix with `~` for display. */
export function tildify(path: string): string {
  const home = homedir();
  if (home && home !== "/" && (path === home || path.startsWith(home + "/"))) {
    return "~" + path.slice(home.length);
  }
  return path;
}
