import { createInterface, clearLine, cursorTo, type Interface } from "node:readline";
import type { CommandContext, OutputStream, ShellServiceContext } from "./command.js";
import { UsageError } from "./command.js";
import type { CommandRegistry } from "./registry.js";
import { completeLine, type CompletionSource } from "./complete.js";
import { installHistorySearch } from "./search.js";
import { appendHistory, loadHistory, HISTORY_LIMIT } from "./history.js";
import { commandContext, Interrupter } from "./io.js";
import { BUILTINS, runWords } from "./run.js";
import { tokenize } from "./tokenize.js";
import { ensureHome } from "../util/home.js";
import { rawOutput } from "../term/output.js";

export const PROMPT = "> ";
/** How long completion reuses the fleet's pids and incident ids: a burst of Tabs reads the process table once. */
export const COMPLETION_CACHE_MS = 2_000;
export const BANNER = "opensre — SRE for the AI agents on this machine. /help for commands, Ctrl+D to exit.";

export interface ShellOptions {
  registry: CommandRegistry;
  home: string;
  env: NodeJS.ProcessEnv;
  stdin: CommandContext["stdin"];
  stdout: OutputStream;
  stderr: OutputStream;
}

/**
 * The interactive shell: a prompt that runs `/agents …` slash commands through the
 * registry, plus `/help` and `/exit`. It knows no command by name.
 *
 * On a terminal each prompt gets a fresh readline interface, closed while a command
 * runs so the command owns the terminal (Ctrl+C → its AbortSignal, keys for live views);
 * history and completion carry over. On piped input one interface reads every line.
 */
export async function runShell(opts: ShellOptions): Promise<number> {
  const { registry, home, env, stdin, stdout, stderr } = opts;
  /** readline draws the prompt and line editing with cursor controls: it gets the unfiltered terminal. */
  const term = rawOutput(stdout);
  try {
    ensureHome(home);
  } catch (err) {
    stderr.write(`warning: cannot create ${home}: ${(err as Error).message}\n`);
  }
  const tty = Boolean(stdin.isTTY);
  let history = loadHistory(home);
  let activeRl: Interface | undefined;
  let commandRunning = false;

  const notify = (line: string) => {
    if (activeRl && tty && !commandRunning) {
      clearLine(term, 0);
      cursorTo(term, 0);
      stdout.write(line + "\n");
      activeRl.prompt(true);
    } else {
      stdout.write(line + "\n");
    }
  };

  if (tty) stdout.write(BANNER + "\n");

  const serviceCtx: ShellServiceContext = { home, env, notify };
  const stops: Array<() => Promise<void> | void> = [];
  for (const service of registry.shellServices()) {
    try {
      stops.push(await service.start(serviceCtx));
    } catch (err) {
      stderr.write(`warning: ${service.name} did not start: ${(err as Error).message}\n`);
    }
  }

  const cache = new Map<string, { at: number; values: Promise<string[]> }>();
  const source: CompletionSource = (placeholder) => {
    const hit = cache.get(placeholder);
    if (hit && Date.now() - hit.at < COMPLETION_CACHE_MS) return hit.values;
    const values = registry.completionValues(placeholder, { home, env });
    cache.set(placeholder, { at: Date.now(), values });
    return values;
  };
  const completer = (line: string, done: (err: null, result: [string[], string]) => void) => {
    completeLine(registry, line, source).then(
      (r) => done(null, r),
      () => done(null, [[], line]),
    );
  };
  const pipedRl = tty ? undefined : createInterface({ input: stdin, terminal: false });
  const pipedLines = pipedRl?.[Symbol.asyncIterator]();

  const readLine = (): Promise<string | null> => {
    if (pipedLines) {
      return pipedLines.next().then((r) => (r.done ? null : r.value));
    }
    return new Promise((resolve) => {
      const rl = createInterface({
        input: stdin,
        output: term,
        prompt: PROMPT,
        completer,
        terminal: true,
        history: [...history],
        historySize: HISTORY_LIMIT,
        removeHistoryDuplicates: true,
        tabSize: 4,
      });
      activeRl = rl;
      const unsearch = installHistorySearch(rl, stdin, PROMPT);
      let settled = false;
      rl.on("SIGINT", () => {
        // Ctrl+C at the prompt clears the line, like a login shell.
        stdout.write("^C\n");
        rl.write(null, { ctrl: true, name: "u" });
        rl.prompt();
      });
      rl.on("line", (line) => {
        settled = true;
        history = (rl as unknown as { history: string[] }).history.slice();
        activeRl = undefined;
        rl.close();
        resolve(line);
      });
      rl.on("close", () => {
        unsearch();
        activeRl = undefined;
        if (!settled) {
          settled = true;
          stdout.write("\n");
          resolve(null);
        }
      });
      rl.prompt();
    });
  };

  let exitCode = 0;
  try {
    for (;;) {
      const line = await readLine();
      if (line === null) break;
      const text = line.trim();
      if (text === "") continue;
      if (tty) appendHistory(home, text, history);
      if (!text.startsWith("/")) {
        stderr.write(`not a command: ${text}  (slash commands start with /; try /help)\n`);
        continue;
      }
      let words: string[];
      try {
        words = tokenize(text.slice(1));
      } catch (err) {
        stderr.write((err instanceof UsageError ? err.message : String(err)) + "\n");
        continue;
      }
      const builtin = words[0] === "exit" || words[0] === "quit" ? BUILTINS[words[0]]! : undefined;
      if (builtin && (words.includes("--help") || words.includes("-h"))) {
        stdout.write(`${builtin.usage}\n  ${builtin.summary}\n`);
        continue;
      }
      if (builtin) break;
      commandRunning = true;
      const interrupter = new Interrupter(stdin);
      try {
        const ctx = commandContext({ home, env, stdin, stdout, stderr, interactive: true }, interrupter, term);
        exitCode = await runWords(registry, words, ctx);
      } finally {
        interrupter.dispose();
        commandRunning = false;
      }
    }
  } finally {
    pipedRl?.close();
    for (const stop of stops.reverse()) {
      try {
        await stop();
      } catch {
        /* shutting down */
      }
    }
  }
  return tty ? 0 : exitCode;
}
