import { lstatSync } from "node:fs";
import { join } from "node:path";
import { createRequire } from "node:module";
import type * as YamlModule from "yaml";
import type { Document, Node as YamlNode } from "yaml";
import type { z } from "zod";
import { writeFileAtomicSync } from "../util/atomic.js";
import { ensureHome, tildify } from "../util/home.js";
import { withFileLock } from "../util/lock.js";
import { readStateFile } from "../util/statefile.js";
import { didYouMean } from "./did-you-mean.js";
import { checkWindow } from "./objectives.js";

/**
 * `agents.yaml`: per-agent (and per-provider default) SLOs and price overrides.
 *
 *   agents:                      # by agent name (the dashboard's first column)
 *     claude-code:
 *       hourly_budget_usd: 5
 *       progress_minutes: 8
 *       error_rate_pct: 10
 *   providers:                   # defaults for every session of a provider
 *     codex:
 *       hourly_budget_usd: 3
 *   watchdog:
 *     interval_seconds: 30
 *     notify_command: notify-send "opensre" "$(jq -r .detail)"
 *
 * Parsed with `yaml`'s Document API so a write keeps the user's comments and ordering;
 * validated with zod; every error names the file and line.
 */
export const CONFIG_FILE = "agents.yaml";
/** Largest agents.yaml read: thousands of entries; a bigger file is not a config. */
export const CONFIG_MAX_BYTES = 1024 * 1024;

/**
 * `yaml` and `zod` are loaded on the first agents.yaml read or write, not at import: most
 * one-shot commands (and every run without an agents.yaml) never need them.
 */
const require = createRequire(import.meta.url);
let yamlModule: typeof YamlModule | undefined;
function yaml(): typeof YamlModule {
  return (yamlModule ??= require("yaml") as typeof YamlModule);
}

function buildSchemas() {
  const { z } = require("zod") as typeof import("zod");
  const finite = (what: string) =>
    z.number({ error: (iss) => (typeof iss.input === "number" ? `${what} must be a finite number` : `${what} must be a number, not ${iss.input === null ? "empty" : JSON.stringify(iss.input)}`) });

  const slo = z.strictObject({
    hourly_budget_usd: finite("hourly_budget_usd").refine((n) => n > 0, "hourly_budget_usd must be > 0").optional(),
    progress_minutes: finite("progress_minutes").refine((n) => n >= 0, "progress_minutes must be ≥ 0").optional(),
    error_rate_pct: finite("error_rate_pct").refine((n) => n >= 0 && n <= 100, "error_rate_pct must be between 0 and 100").optional(),
    model: z.string({ error: "model must be a string" }).min(1, "model must not be empty").optional(),
    input_usd_per_million_tokens: finite("input_usd_per_million_tokens").refine((n) => n >= 0, "input_usd_per_million_tokens must be ≥ 0").optional(),
    output_usd_per_million_tokens: finite("output_usd_per_million_tokens").refine((n) => n >= 0, "output_usd_per_million_tokens must be ≥ 0").optional(),
    // objectives over a compliance window, with an error budget (src/slo/objectives.ts)
    success_objective_pct: finite("success_objective_pct").refine((n) => n > 0 && n < 100, "success_objective_pct must be between 0 and 100 (exclusive)").optional(),
    spend_objective_pct: finite("spend_objective_pct").refine((n) => n > 0 && n < 100, "spend_objective_pct must be between 0 and 100 (exclusive)").optional(),
    slo_window: z
      .string({ error: "slo_window must be a duration such as 28d, 7d or 12h" })
      .superRefine((v, ctx) => {
        const problem = checkWindow(v);
        if (problem) ctx.addIssue({ code: "custom", message: problem });
      })
      .optional(),
  });

  const watchdog = z.strictObject({
    interval_seconds: finite("interval_seconds").refine((n) => n >= 0.1, "interval_seconds must be ≥ 0.1").optional(),
    notify_command: z.string({ error: "notify_command must be a string" }).optional(),
    cooldown_minutes: finite("cooldown_minutes").refine((n) => n >= 0, "cooldown_minutes must be ≥ 0").optional(),
  });

  /** An empty section (`agents:` with nothing under it) reads as YAML null: treat it as empty. */
  const orEmpty = <T extends z.ZodType>(schema: T) => z.preprocess((v) => v ?? {}, schema);
  const entry = orEmpty(slo);
  type Settings = z.infer<typeof slo>;
  /**
   * Name → settings, each entry validated on its own, into a null-prototype object: a name such
   * as `__proto__` or `constructor` is an agent like any other (a record type would drop it, and
   * a plain object would answer `constructor` with its own).
   */
  const entries = z.unknown().transform((v, ctx) => {
    const out = Object.create(null) as Record<string, Settings>;
    if (v === null || v === undefined) return out;
    if (typeof v !== "object" || Array.isArray(v)) {
      ctx.addIssue({ code: "custom", message: "must be a mapping of names to settings" });
      return z.NEVER;
    }
    for (const [name, value] of Object.entries(v)) {
      const r = entry.safeParse(value);
      if (!r.success) {
        for (const iss of r.error.issues) ctx.addIssue({ ...iss, path: [name, ...iss.path] } as Parameters<typeof ctx.addIssue>[0]);
        return z.NEVER;
      }
      Object.defineProperty(out, name, { value: r.data, enumerable: true, writable: true, configurable: true });
    }
    return out;
  });

  const config = z.strictObject({
    agents: orEmpty(entries).optional(),
    providers: orEmpty(entries).optional(),
    watchdog: orEmpty(watchdog).optional(),
  });
  return { slo, watchdog, config };
}

let schemas: ReturnType<typeof buildSchemas> | undefined;
/** The agents.yaml schemas (zod), built on first use. */
export function configSchemas(): ReturnType<typeof buildSchemas> {
  return (schemas ??= buildSchemas());
}

export type SloSettings = z.infer<ReturnType<typeof buildSchemas>["slo"]>;

export interface SloConfig {
  agents: Record<string, SloSettings>;
  providers: Record<string, SloSettings>;
  watchdog: { interval_seconds?: number; notify_command?: string; cooldown_minutes?: number };
}

export const EMPTY_CONFIG: SloConfig = { agents: Object.create(null), providers: Object.create(null), watchdog: {} };

/** A broken or invalid agents.yaml: the message names the file and line. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

export function configPath(home: string): string {
  return join(home, CONFIG_FILE);
}

function allowedKeys(path: readonly PropertyKey[]): readonly string[] {
  if (path.length === 0) return ["agents", "providers", "watchdog"];
  if (path[0] === "watchdog") return Object.keys(configSchemas().watchdog.shape);
  return Object.keys(configSchemas().slo.shape);
}

/** Line of the node at `path` (or of the key `key` inside it), 1-based; null if unknown. */
function lineOf(doc: Document, lc: YamlModule.LineCounter, path: readonly PropertyKey[], key?: string): number | null {
  let node: unknown = doc.contents;
  for (const p of path) {
    if (!yaml().isMap(node)) break;
    const pair = node.items.find((it) => yaml().isScalar(it.key) && String((it.key as YamlModule.Scalar).value) === String(p));
    if (!pair) break;
    node = pair.value;
  }
  if (key !== undefined && yaml().isMap(node)) {
    const pair = node.items.find((it) => yaml().isScalar(it.key) && String((it.key as YamlModule.Scalar).value) === key);
    if (yaml().isPair(pair) && yaml().isScalar(pair.key) && pair.key.range) return lc.linePos(pair.key.range[0]).line;
  }
  const range = (node as YamlNode | null)?.range;
  return range ? lc.linePos(range[0]).line : null;
}

function where(path: readonly PropertyKey[]): string {
  return path.length ? ` in ${path.map(String).join(".")}` : "";
}

/** Parse and validate the text of an agents.yaml; throws ConfigError naming `file` and the line. */
export function parseConfig(text: string, file = CONFIG_FILE): { config: SloConfig; doc: Document } {
  const { LineCounter, parseDocument } = yaml();
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false });
  if (doc.errors.length) {
    const e = doc.errors[0]!;
    const line = e.linePos?.[0]?.line ?? lc.linePos(e.pos[0]).line;
    throw new ConfigError(`${file}: line ${line}: ${e.message.replace(/ at line \d+, column \d+[\s\S]*$/, "")}`);
  }
  const raw: unknown = doc.toJS() ?? {};
  if (typeof raw !== "object" || Array.isArray(raw) || raw === null) {
    throw new ConfigError(`${file}: line 1: expected a mapping with agents:, providers: or watchdog:`);
  }
  const parsed = configSchemas().config.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const path = issue.path;
    if (issue.code === "unrecognized_keys") {
      const key = issue.keys[0]!;
      const hint = didYouMean(key, allowedKeys(path));
      const line = lineOf(doc, lc, path, key);
      throw new ConfigError(`${file}:${line ? ` line ${line}:` : ""} unknown key "${key}"${where(path)}${hint ? ` (did you mean "${hint}"?)` : ""}`);
    }
    const line = lineOf(doc, lc, path);
    const msg = issue.message.startsWith("Invalid input") && path.length ? `${String(path[path.length - 1])}: ${issue.message.replace(/^Invalid input: /, "")}` : issue.message;
    throw new ConfigError(`${file}:${line ? ` line ${line}:` : ""} ${msg}${where(path.slice(0, -1))}`);
  }
  const c = parsed.data;
  return { config: { agents: c.agents ?? Object.create(null), providers: c.providers ?? Object.create(null), watchdog: c.watchdog ?? {} }, doc };
}

/** Read agents.yaml from the home dir; a missing file is an empty config. */
export function loadConfig(home: string): SloConfig {
  const path = configPath(home);
  let buf: Buffer | null;
  try {
    buf = readStateFile(path, CONFIG_MAX_BYTES); // never through a link, never a FIFO
  } catch (err) {
    throw new ConfigError(`${tildify(path)}: ${(err as Error).message}`);
  }
  if (buf === null) return EMPTY_CONFIG;
  return parseConfig(buf.toString("utf8"), tildify(path)).config;
}

/** Settings that apply to one agent: its provider's defaults, then its own entry on top. */
export function settingsFor(config: SloConfig, name: string, provider: string): SloSettings {
  const own = <T>(o: Record<string, T>, k: string): T | undefined => (Object.hasOwn(o, k) ? o[k] : undefined);
  return { ...(own(config.providers, provider) ?? {}), ...(own(config.agents, name) ?? {}) };
}

/** Re-reads agents.yaml only when it changed (mtime, size); keeps the last good config on error. */
export class ConfigWatcher {
  private stamp = "";
  private config: SloConfig = EMPTY_CONFIG;
  private error: string | null = null;
  constructor(private readonly home: string) {}

  /** Current config, and a new error message when the file just became invalid. */
  current(): { config: SloConfig; error: string | null } {
    const path = configPath(this.home);
    let stamp = "missing";
    try {
      const st = lstatSync(path);
      stamp = `${st.mtimeMs}:${st.size}:${st.ino}`;
    } catch {
      /* missing */
    }
    if (stamp === this.stamp) return { config: this.config, error: null };
    this.stamp = stamp;
    try {
      this.config = loadConfig(this.home);
      this.error = null;
      return { config: this.config, error: null };
    } catch (err) {
      this.error = (err as Error).message;
      return { config: this.config, error: this.error };
    }
  }
}

const HEADER = `# opensre agents.yaml: per-agent SLOs and price overrides.
# agents: <name>: hourly_budget_usd, progress_minutes, error_rate_pct, model,
#                 input_usd_per_million_tokens, output_usd_per_million_tokens,
#                 success_objective_pct, spend_objective_pct, slo_window (default 28d)
# providers: <provider>: the same keys, a default for every session of that provider
# watchdog: interval_seconds, notify_command, cooldown_minutes
`;

/**
 * Set keys of one agent's entry and write the file atomically, keeping comments and
 * order. Runs under a lock; a file that does not parse or validate is never overwritten.
 */
export async function updateAgentSettings(home: string, name: string, patch: Partial<SloSettings>, section: "agents" | "providers" = "agents"): Promise<string> {
  ensureHome(home);
  const path = configPath(home);
  return withFileLock(path + ".lock", () => {
    const text = readStateFile(path, CONFIG_MAX_BYTES)?.toString("utf8") ?? HEADER;
    const { doc } = parseConfig(text, tildify(path));
    const { isMap } = yaml();
    if (doc.contents === null || !isMap(doc.contents)) doc.contents = doc.createNode({}) as typeof doc.contents;
    if (!isMap(doc.getIn([section], true))) doc.setIn([section], doc.createNode({}));
    const entry = doc.getIn([section, name], true);
    if (!isMap(entry)) doc.setIn([section, name], doc.createNode({}));
    for (const [k, v] of Object.entries(patch)) {
      if (v === undefined) continue;
      doc.setIn([section, name, k], v);
    }
    const out = doc.toString();
    parseConfig(out, tildify(path)); // never write what we could not read back
    writeFileAtomicSync(path, out, 0o600);
    return path;
  });
}
