import { execFile } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { REPO_ROOT, STARTING_HOME } from "../test/helpers/env.js";

const run = promisify(execFile);

/** The pinned agent packages (`conformance/pins.json`; `npm run agents:bump` moves them to the newest). */
export const PINS = JSON.parse(readFileSync(join(REPO_ROOT, "conformance", "pins.json"), "utf8")) as Record<string, string>;

/** Where the real agents are installed: reused by every run that finds them (CI within one run, a developer across runs). */
export const CACHE = resolve(process.env.OPENSRE_AGENTS_CACHE ?? join(REPO_ROOT, ".cache", "agents"));

/** The npm binary next to this node. */
const NPM = process.platform === "win32" ? "npm.cmd" : "npm";

/**
 * Installs `pkg@version` (once) into its own prefix under the cache and returns the path of
 * its executable. Native binaries come as the packages' optional platform packages from the
 * registry, like any user's install.
 */
export async function installAgent(pkg: string, bin: string): Promise<string> {
  const version = PINS[pkg];
  if (!version) throw new Error(`no pinned version for ${pkg} in conformance/pins.json`);
  const prefix = join(CACHE, `${pkg.replace(/[@/]/g, "_")}@${version}`);
  const marker = join(prefix, ".installed");
  const exe = join(prefix, "node_modules", ".bin", bin);
  if (existsSync(marker) && existsSync(exe)) return exe;
  mkdirSync(prefix, { recursive: true });
  writeFileSync(join(prefix, "package.json"), JSON.stringify({ name: "agent-cache", private: true }));
  // npm's own settings (registry, cache) are the machine's: looked up from the home the run started with
  await run(NPM, ["install", "--prefix", prefix, "--no-audit", "--no-fund", "--loglevel=error", `${pkg}@${version}`], { maxBuffer: 16 << 20, timeout: 600_000, env: { ...process.env, HOME: STARTING_HOME } });
  if (!existsSync(exe)) throw new Error(`${pkg}@${version} installed no ${bin} executable`);
  writeFileSync(marker, `${pkg}@${version}\n`);
  return exe;
}

/** Installs every pinned agent, several at a time. */
export async function installAll(): Promise<Record<string, string>> {
  const bins: Array<[string, string]> = [
    ["@anthropic-ai/claude-code", "claude"],
    ["@openai/codex", "codex"],
    ["@google/gemini-cli", "gemini"],
    ["@github/copilot", "copilot"],
    ["opencode-ai", "opencode"],
    ["@sourcegraph/amp", "amp"],
  ];
  const out: Record<string, string> = {};
  const queue = [...bins];
  await Promise.all(
    [0, 1, 2].map(async () => {
      for (let next = queue.shift(); next; next = queue.shift()) out[next[1]] = await installAgent(next[0], next[1]);
    }),
  );
  return out;
}
