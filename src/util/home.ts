import { mkdirSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";

/** Mode of a home directory we create: only the owner may list or enter it (the bus socket lives here). */
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

/** A home directory another user could tamper with: refused, with what to do about it. */
export class UnsafeHomeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UnsafeHomeError";
  }
}

/**
 * Refuse a state directory that is not ours alone: owned by another user, or writable by
 * group or others (they could plant files, links or a socket where we read and write state).
 * Nothing is changed: a mode the user chose is theirs to fix. Missing is fine (nothing to read).
 */
export function checkHome(dir: string): void {
  let st;
  try {
    st = statSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
    throw err;
  }
  if (!st.isDirectory()) throw new UnsafeHomeError(`refusing to use ${dir} for state: it is not a directory`);
  const uid = process.geteuid?.();
  if (uid !== undefined && st.uid !== uid) {
    throw new UnsafeHomeError(`refusing to use ${dir} for state: it belongs to another user (uid ${st.uid}); set OPENSRE_HOME to a directory of your own`);
  }
  if ((st.mode & 0o022) !== 0) {
    const mode = (st.mode & 0o7777).toString(8).padStart(4, "0");
    throw new UnsafeHomeError(`refusing to use ${dir} for state: other users can write to it (mode ${mode}); run chmod go-w ${dir}, or set OPENSRE_HOME to a directory only you can write`);
  }
}

/**
 * Create the home directory if missing (mode 0700; missing parents get the usual mode),
 * then check it (`checkHome`). An existing directory keeps its mode.
 */
export function ensureHome(dir: string): string {
  try {
    mkdirSync(dir, { mode: HOME_DIR_MODE });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") {
      mkdirSync(dirname(dir), { recursive: true });
      try {
        mkdirSync(dir, { mode: HOME_DIR_MODE });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      }
    } else if (code !== "EEXIST") throw err;
  }
  checkHome(dir);
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
