import { fileURLToPath, pathToFileURL } from "node:url";

/**
 * A fixed clock for a command a test runs: `clockAt(ms)` is the environment for it. The
 * command loads this file first (`--import`) and its clock starts at `ms` and runs on from
 * there, so a command that reads fixtures of fixed dates (SLO windows, "the last 7 days")
 * sees them as the test expects whatever day the suite runs.
 */
const start = Number(process.env.OPENSRE_TEST_CLOCK_MS);
if (process.env.OPENSRE_TEST_CLOCK_MS && Number.isFinite(start)) {
  const RealDate = Date;
  const offset = start - RealDate.now();
  const now = () => RealDate.now() + offset;
  class FixedDate extends RealDate {
    constructor(...args: unknown[]) {
      if (args.length === 0) super(now());
      else super(...(args as [string]));
    }
    static override now(): number {
      return now();
    }
  }
  globalThis.Date = FixedDate as DateConstructor;
}

export function clockAt(ms: number, env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const load = `--import=${pathToFileURL(fileURLToPath(import.meta.url)).href}`;
  return { NODE_OPTIONS: [env.NODE_OPTIONS, load].filter(Boolean).join(" "), OPENSRE_TEST_CLOCK_MS: String(ms) };
}
