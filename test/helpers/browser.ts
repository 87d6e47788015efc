import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser } from "playwright-core";
import { REPO_ROOT } from "./env.js";

/**
 * Debian's Chromium, driven by playwright-core (a test tool's own browser download cannot
 * work here). `.ci/run` installs it; `OPENSRE_CHROMIUM` may name another build.
 */
export const CHROMIUM = process.env.OPENSRE_CHROMIUM || "/usr/bin/chromium";
export const CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

/** Where browser tests keep their screenshots (gitignored). */
export const ARTEFACTS = join(REPO_ROOT, "test-output", "web");

/**
 * Why browser tests cannot run here (for `test(..., { skip })`), or false. In CI a missing
 * browser is a failure, never a skip: `.ci/run` installs it.
 */
export function noBrowser(): string | false {
  if (existsSync(CHROMIUM)) return false;
  const why = `no Chromium at ${CHROMIUM} (.ci/run installs Debian's chromium: apt-get install chromium)`;
  if (process.env.CI) throw new Error(why);
  return why;
}

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true, timeout: 60_000 });
}

export function artefact(name: string): string {
  mkdirSync(ARTEFACTS, { recursive: true });
  return join(ARTEFACTS, name);
}
