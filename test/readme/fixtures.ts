/**
 * Fixtures of the README examples: each prepares a fresh temp user for one kind of example
 * (state files, fake agents, transcripts) and says which README literals stand for which
 * real values of the run (`vars`). See docs/readme-examples.md for the convention.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { registerAgent } from "../../src/fleet/registry.js";

export interface FixtureContext {
  /** The temp dir of this run (removed afterwards). */
  readonly root: string;
  /** `$HOME` of the temp user: `<root>/home/dev`; the tool's home is `~/.config/opensre`. */
  readonly home: string;
  /** Working directory of every command (default: `$HOME`). */
  cwd: string;
  readonly env: NodeJS.ProcessEnv;
  /**
   * README literal → real value: literals in a command are replaced by the real value before
   * it runs, and real values in the output by the literal before comparing (`/home/dev` → `$HOME`
   * is always there; a fake agent's pid is another). Longest match first.
   */
  readonly vars: Map<string, string>;
  /** Stdin for a command, by its README text (default: empty). */
  readonly input: Map<string, string>;
  /** Run at the end of the example, last first (kill fake agents, stop brokers). */
  readonly cleanups: Array<() => void | Promise<void>>;
}

/** A command or shell that is running, for fixtures that act while it runs (publish to a live bus view, …). */
export interface RunHandle {
  /** What it printed so far. */
  output(): string;
  /** Resolves when the output contains `text` (or the command ended). */
  waitFor(text: string, timeoutMs?: number): Promise<void>;
}

export interface Fixture {
  /** One line: what the temp user has. */
  readonly summary: string;
  setup(fx: FixtureContext): Promise<void> | void;
  /** Runs alongside each command of the example (or the interactive shell), right after it starts. */
  during?(fx: FixtureContext, run: RunHandle): Promise<void> | void;
  /** Extra normalisation for what varies in this example only: `[pattern, placeholder]`. */
  readonly normalise?: ReadonlyArray<[RegExp, string]>;
}

/** Spawn a process for an example and kill it at the end; its pid is the README's `literal`. */
export function keep(fx: FixtureContext, child: ChildProcess, literal?: string): ChildProcess {
  fx.cleanups.push(() => void child.kill("SIGKILL"));
  if (literal !== undefined) fx.vars.set(literal, String(child.pid));
  return child;
}

/** The tool's home of the temp user (`~/.config/opensre` under the temp `HOME`, never this process's home). */
export function toolHome(fx: FixtureContext): string {
  return fx.env.OPENSRE_HOME || join(fx.home, ".config", "opensre");
}

/** A process that just sleeps, registered under `name`; its pid is the README's `literal`. */
export async function registered(fx: FixtureContext, name: string, literal: string, cwd = fx.home, args: string[] = ["/bin/sleep", "300"]): Promise<ChildProcess> {
  const child = keep(fx, spawn(args[0]!, args.slice(1), { cwd, stdio: "ignore" }), literal);
  await registerAgent(toolHome(fx), { pid: child.pid!, name });
  return child;
}

export const FIXTURES: Record<string, Fixture> = {
  empty: {
    summary: "a new user: no state, no agents",
    setup: () => undefined,
  },
  "trace-refusals": {
    summary: "a process (README pid 17326) whose stdout is a socket; pid 999999 does not exist",
    setup(fx) {
      keep(fx, spawn("/bin/sleep", ["300"], { stdio: ["ignore", "pipe", "ignore"] }), "17326");
    },
  },
  "registered-pair": {
    summary: "two registered agents, alpha (README pid 9922) and beta (9923), working in the git repository ~/shop",
    async setup(fx) {
      const shop = join(fx.home, "shop");
      mkdirSync(join(shop, ".git"), { recursive: true });
      await registered(fx, "alpha", "9922", shop);
      await registered(fx, "beta", "9923", shop);
    },
  },
  "bus-view": {
    summary: "a live `agents bus` view that two agents publish to (raw frames on the socket), then a frame that is not an object",
    setup: () => undefined,
    async during(fx, run) {
      await run.waitFor("tailing /agents bus");
      const sock = connect(join(toolHome(fx), "agents-bus.sock"));
      sock.on("error", () => undefined);
      fx.cleanups.push(() => void sock.destroy());
      const send = async (frame: string, shows: string) => {
        sock.write(frame + "\n");
        await run.waitFor(shows);
      };
      await send('{"agent":"claude-code:8421","topic":"finding","summary":"null deref on missing token","path":"services/auth.py:42"}', "null deref");
      await send('{"agent":"cursor:9133","topic":"finding","summary":"confirmed, repro on commit abc123","data":{"commit":"abc123"}}', "confirmed");
      await send("[1,2,3]", "warning:");
    },
  },
  kill: {
    summary: "auth-fixer (README pid 5864), registered, exits on SIGTERM; pid 7311 ignores SIGTERM",
    async setup(fx) {
      await registered(fx, "auth-fixer", "5864");
      const stubborn = keep(fx, spawn("/bin/sh", ["-c", "trap '' TERM; echo ready; while :; do sleep 1; done"], { stdio: ["ignore", "pipe", "ignore"] }), "7311");
      await new Promise((r) => stubborn.stdout!.once("data", r));
    },
  },
};
