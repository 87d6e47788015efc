#!/usr/bin/env node
/**
 * `opensre`: the entry point. `--version` answers from package.json alone and `--help` from the
 * command catalog; everything else loads the CLI (`main.ts`), whose commands load their own
 * modules on first use, so a one-shot command pays only for what it runs.
 */
import { readFileSync } from "node:fs";

const argv = process.argv.slice(2);
if (argv.length === 1 && (argv[0] === "--version" || argv[0] === "-V" || argv[0] === "version")) {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
  process.stdout.write(`opensre-agents ${pkg.version}\n`);
} else if (argv.length === 1 && (argv[0] === "--help" || argv[0] === "-h" || argv[0] === "help")) {
  // the catalog's own text: no terminal filter, readline or home needed
  const [{ buildRegistry }, { cliHelpText }] = await Promise.all([import("./commands/index.js"), import("./shell/run.js")]);
  process.stdout.write(cliHelpText(buildRegistry()));
} else {
  const { run } = await import("./main.js");
  run(argv);
}
