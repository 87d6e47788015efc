/**
 * The command line behind `cli.ts`: the shell with no arguments, `--help`, or one command
 * through the registry.
 */
import { buildRegistry } from "./commands/index.js";
import { commandContext, Interrupter } from "./shell/io.js";
import { cliHelpText, runWords } from "./shell/run.js";
import { opensreHome } from "./util/home.js";
import { flushOutput, guardOutput, rawOutput } from "./term/output.js";

/** Everything a command prints passes the terminal filter (see `term/output.ts`). */
const stdout = guardOutput(process.stdout);
const stderr = guardOutput(process.stderr);

/** `opensre` with no arguments opens the shell; `opensre agents bus` ≡ `/agents bus`. */
async function main(argv: string[]): Promise<number> {
  const registry = buildRegistry();
  const env = process.env;
  const home = opensreHome(env);
  const { stdin } = process;

  if (argv.length === 0) {
    const { runShell } = await import("./shell/repl.js"); // one-shot commands do not load the shell
    return runShell({ registry, home, env, stdin, stdout, stderr });
  }
  if (argv.length === 1 && (argv[0] === "--help" || argv[0] === "-h" || argv[0] === "help")) {
    stdout.write(cliHelpText(registry));
    return 0;
  }

  // `opensre /agents bus`, written the way the shell spells it, is `opensre agents bus`
  if (argv[0]!.startsWith("/") && argv[0]!.length > 1) argv = [argv[0]!.slice(1), ...argv.slice(1)];
  const interrupter = new Interrupter(stdin, () => process.exit(130));
  try {
    const ctx = commandContext({ home, env, stdin, stdout, stderr, interactive: false }, interrupter, rawOutput(stdout));
    return await runWords(registry, argv, ctx);
  } finally {
    interrupter.dispose();
  }
}

/** Run the CLI with `argv` (the words after `opensre`) and exit with its status. */
export function run(argv: string[]): void {
  main(argv).then(
    (code) => {
      // Flush what we printed, then exit even if a library left a handle open.
      void Promise.all([flushOutput(stdout), flushOutput(stderr)]).then(() => process.exit(code));
    },
    (err: unknown) => {
      stderr.write(`error: ${(err as Error)?.stack ?? String(err)}\n`);
      void flushOutput(stderr).then(() => process.exit(1));
    },
  );
}
