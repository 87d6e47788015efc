import { mkdtempSync, rmSync, realpathSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";

/** The compiled output directory these tests run from (`dist/`, or another `--outDir`). */
export const OUT_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
/** Repository root. */
export const REPO_ROOT = resolve(OUT_DIR, "..");
/** The built CLI entry point of the same build. */
export const CLI = join(OUT_DIR, "src", "cli.js");
/**
 * How long a test waits for output it expects before failing. Generous: on a machine whose
 * cores are busy with other work, starting node and loading the CLI alone can take many
 * seconds; a wait that times out is a hang, never a slow pass.
 */
export const WAIT_MS = 60_000;
/** The home this test process was started with: only npm's own settings are looked up there (the install test). */
export const STARTING_HOME = process.env.HOME;

/**
 * Every test process runs with a home of its own and none of the agents' location variables:
 * a child a test spawns without an explicit environment (a fake agent, a process to signal)
 * inherits this one, and the CLI under test reads a process's own location variables to find
 * its records. Without this, scanning a fake agent would look into the real user's `~/.claude`.
 */
function hermeticProcessEnv(): void {
  const home = mkdtempSync(join(tmpdir(), "osre-home-"));
  process.env.HOME = home;
  for (const k of ["CLAUDE_CONFIG_DIR", "CODEX_HOME", "GEMINI_DIR", "OPENSRE_HOME"]) delete process.env[k];
  process.on("exit", () => rmSync(home, { recursive: true, force: true }));
}
hermeticProcessEnv();

/** Sample transcripts of each agent, with the figures a parser must produce (`test/fixtures/README.md`). */
export const FIXTURES = resolve(REPO_ROOT, "test", "fixtures");

/**
 * A fresh temp directory, removed by `cleanup()`. Unix socket paths are limited to
 * ~107 bytes, so these stay short (`/tmp/osre-XXXXXX`).
 */
export function tempDir(prefix = "osre-"): { path: string; cleanup: () => Promise<void> } {
  const path = realpathSync(mkdtempSync(join(tmpdir(), prefix)));
  const remove = () => rmSync(path, { recursive: true, force: true, maxRetries: 5 });
  return {
    path,
    // the children still writing into it stop first (node:test runs `t.after` hooks in the order they were
    // registered, so a temp home registered first is cleaned up before the later hooks kill its processes)
    cleanup: () => {
      const inside = [...liveChildren].filter((c) => c.dirs.some((d) => d === path || d.startsWith(path + "/")));
      if (inside.length === 0) {
        remove();
        return Promise.resolve();
      }
      return Promise.all(inside.map((c) => c.stop())).then(remove);
    },
  };
}

/** A long-running child started by a test helper (CLI process, pseudo-terminal session) until it exits. */
export interface LiveChild {
  /** The directories it writes into: its home and working directory. */
  dirs: string[];
  /** Kill it and resolve once it has exited. */
  stop(): Promise<void>;
}

/** Children of the helpers that are still running; `tempDir().cleanup` stops those inside its directory. */
export const liveChildren = new Set<LiveChild>();

/** Track a child until `exited` settles; the directories are its home(s) and cwd. */
export function trackChild(env: NodeJS.ProcessEnv, cwd: string | undefined, exited: Promise<unknown>, kill: () => void): void {
  const dirs = [env.OPENSRE_HOME, env.HOME, cwd].filter((d): d is string => typeof d === "string" && d !== "");
  const c: LiveChild = {
    dirs,
    stop: async () => {
      kill();
      await exited;
    },
  };
  liveChildren.add(c);
  void exited.finally(() => liveChildren.delete(c));
}

/**
 * An environment for child processes that never touches the real home: OPENSRE_HOME
 * and every agent's own location variable point into `home`.
 */
export function isolatedEnv(home: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of Object.keys(env)) {
    if (k.startsWith("OPENSRE_") || k === "CLAUDE_CONFIG_DIR" || k === "CODEX_HOME" || k === "GEMINI_DIR") delete env[k];
  }
  return {
    ...env,
    OPENSRE_HOME: home,
    HOME: join(home, "user-home"),
    CLAUDE_CONFIG_DIR: join(home, "claude"),
    CODEX_HOME: join(home, "codex"),
    NO_COLOR: "1",
    ...extra,
  };
}
