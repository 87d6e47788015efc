import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runCli } from "../helpers/cli.js";
import { isolatedEnv, tempDir } from "../helpers/env.js";
import { parseConfig, settingsFor } from "../../src/slo/config.js";
import { didYouMean } from "../../src/slo/did-you-mean.js";
import { parseFloatLike } from "../../src/slo/number.js";

/** OPENSRE_HOME under HOME, so messages show the `~` form a user sees. */
function setup(t: { after: (f: () => void) => void }) {
  const dir = tempDir();
  t.after(dir.cleanup);
  const userHome = join(dir.path, "u");
  const home = join(userHome, ".config", "opensre");
  mkdirSync(home, { recursive: true });
  const env = { ...isolatedEnv(home), HOME: userHome };
  return { home, env, file: join(home, "agents.yaml") };
}

test("budget: empty list, set, list, other SLOs by flag; comments and order survive a write", async (t) => {
  const { env, file } = setup(t);
  const empty = await runCli(["agents", "budget"], { env });
  assert.equal(empty.stdout, "no per-agent budgets configured.  use /agents budget <agent> <usd> to set one.\n");
  assert.equal(empty.code, 0);

  const set = await runCli(["agents", "budget", "claude-code", "5"], { env });
  assert.equal(set.stdout, "updated claude-code: $5.00/hr -> ~/.config/opensre/agents.yaml\n");
  assert.equal(set.code, 0);

  // the user edits the file by hand: comments and key order must survive our next write
  writeFileSync(
    file,
    "# my fleet\nagents:\n  # the expensive one\n  claude-code:\n    hourly_budget_usd: 5 # keep it low\n  aider:\n    model: gpt-4o\n",
  );
  const flags = await runCli(["agents", "budget", "aider", "2.5", "--progress-minutes", "8", "--error-rate", "10"], { env });
  assert.equal(flags.stdout, "updated aider: $2.50/hr, progress 8 min, error rate 10% -> ~/.config/opensre/agents.yaml\n");
  assert.equal(
    readFileSync(file, "utf8"),
    "# my fleet\nagents:\n  # the expensive one\n  claude-code:\n    hourly_budget_usd: 5 # keep it low\n  aider:\n    model: gpt-4o\n    hourly_budget_usd: 2.5\n    progress_minutes: 8\n    error_rate_pct: 10\n",
  );
  const progressOnly = await runCli(["agents", "budget", "codex", "--progress-minutes", "3"], { env });
  assert.equal(progressOnly.stdout, "updated codex: progress 3 min -> ~/.config/opensre/agents.yaml\n");
  const provider = await runCli(["agents", "budget", "gemini", "1", "--provider"], { env });
  assert.equal(provider.stdout, "updated provider gemini: $1.00/hr -> ~/.config/opensre/agents.yaml\n");

  const list = await runCli(["agents", "budget"], { env });
  assert.equal(
    list.stdout,
    [
      "agent                      hourly $  progress min  error %",
      "claude-code                $5.00     -             -",
      "aider                      $2.50     8             10",
      "codex                      -         3             -",
      "gemini (provider default)  $1.00     -             -",
      "",
    ].join("\n"),
  );
});

test("budget: every invalid input gives its exact message and leaves the file unchanged", async (t) => {
  const { env, file } = setup(t);
  const before = "agents:\n  claude-code:\n    hourly_budget_usd: 5\n";
  writeFileSync(file, before);
  const cases: Array<[string[], string]> = [
    [["claude-code", "abc"], "invalid budget: abc is not a number\n"],
    [["claude-code", "5$"], "invalid budget: 5$ is not a number\n"],
    [["claude-code", ""], "invalid budget:  is not a number\n"],
    [["claude-code", "nan"], "invalid budget: must be a positive finite number\n"],
    [["claude-code", "NaN"], "invalid budget: must be a positive finite number\n"],
    [["claude-code", "inf"], "invalid budget: must be a positive finite number\n"],
    [["claude-code", "-inf"], "invalid budget: must be a positive finite number\n"],
    [["claude-code", "Infinity"], "invalid budget: must be a positive finite number\n"],
    [["claude-code", "1e400"], "invalid budget: must be a positive finite number\n"],
    [["claude-code", "0"], "invalid budget: must be a positive finite number\n"],
    [["claude-code", "-3"], "invalid budget: must be a positive finite number\n"],
    [["claude-code"], "usage: /agents budget [<agent> <usd>]\n"],
    [["claude-code", "5", "extra"], "usage: /agents budget [<agent> <usd>]\n"],
    [["claude-code", "--progress-minutes", "soon"], "invalid --progress-minutes: soon is not a number\n"],
    [["claude-code", "--progress-minutes", "-1"], "invalid --progress-minutes: must be a finite number ≥ 0\n"],
    [["claude-code", "--error-rate", "101"], "invalid --error-rate: must be a percentage between 0 and 100\n"],
  ];
  for (const [args, message] of cases) {
    const r = await runCli(["agents", "budget", ...args], { env });
    assert.equal(r.stderr, message, `budget ${args.join(" ")}`);
    assert.equal(r.code, 2, `budget ${args.join(" ")}`);
    assert.equal(r.stdout, "");
    assert.equal(readFileSync(file, "utf8"), before);
  }
});

test("budget: invalid YAML or an unknown key is reported with its line and never overwritten", async (t) => {
  const { env, file } = setup(t);
  const broken = "agents:\n  claude-code:\n    hourly_budget_usd: 5\n  aider: [1\n";
  writeFileSync(file, broken);
  const r = await runCli(["agents", "budget", "claude-code", "7"], { env });
  assert.match(r.stderr, /^~\/\.config\/opensre\/agents\.yaml: line \d: Flow sequence in block collection must be sufficiently indented and end with a \]\nagents\.yaml was not changed\n$/);
  assert.equal(r.code, 1);
  assert.equal(readFileSync(file, "utf8"), broken);
  const list = await runCli(["agents", "budget"], { env });
  assert.equal(list.code, 1);

  const typo = "# budgets\nagents:\n  claude-code:\n    hourly_budget: 5\n";
  writeFileSync(file, typo);
  const t2 = await runCli(["agents", "budget", "claude-code", "7"], { env });
  assert.equal(
    t2.stderr,
    '~/.config/opensre/agents.yaml: line 4: unknown key "hourly_budget" in agents.claude-code (did you mean "hourly_budget_usd"?)\nagents.yaml was not changed\n',
  );
  assert.equal(readFileSync(file, "utf8"), typo);

  writeFileSync(file, "agents:\n  claude-code:\n    hourly_budget_usd: -2\n");
  const neg = await runCli(["agents", "budget"], { env });
  assert.equal(neg.stderr, "~/.config/opensre/agents.yaml: line 3: hourly_budget_usd must be > 0 in agents.claude-code\n");

  // the dashboard still runs on a broken file, and says why prices are not overridden
  writeFileSync(file, broken);
  const dash = await runCli(["agents"], { env });
  assert.equal(dash.code, 0);
  assert.match(dash.stderr, /^warning: ~\/\.config\/opensre\/agents\.yaml: line \d: Flow sequence .*\(price overrides from it are not applied\)\n$/);
});

test("config: schema, provider defaults under agent entries, did-you-mean, Python-style numbers", () => {
  const { config } = parseConfig("agents:\n  claude-code:\n    hourly_budget_usd: 5\nproviders:\n  claude-code:\n    progress_minutes: 8\n    hourly_budget_usd: 9\n  codex:\nwatchdog:\n  interval_seconds: 10\n");
  assert.deepEqual(settingsFor(config, "claude-code", "claude-code"), { progress_minutes: 8, hourly_budget_usd: 5 });
  assert.deepEqual(settingsFor(config, "reviewer", "claude-code"), { progress_minutes: 8, hourly_budget_usd: 9 });
  assert.deepEqual(settingsFor(config, "x", "codex"), {});
  assert.equal(config.watchdog.interval_seconds, 10);
  assert.deepEqual(parseConfig("").config, { agents: Object.create(null), providers: Object.create(null), watchdog: {} });
  assert.throws(() => parseConfig("watchdog:\n  interval: 3\n"), /line 2: unknown key "interval" in watchdog \(did you mean "interval_seconds"\?\)/);
  assert.throws(() => parseConfig("agents:\n  a:\n    error_rate_pct: 120\n"), /line 3: error_rate_pct must be between 0 and 100 in agents\.a/);
  assert.throws(() => parseConfig("- 1\n"), /line 1: expected a mapping/);
  assert.equal(didYouMean("progress", ["hourly_budget_usd", "progress_minutes", "error_rate_pct"]), "progress_minutes");
  assert.equal(didYouMean("colour", ["hourly_budget_usd", "progress_minutes", "error_rate_pct"]), undefined);
  assert.equal(parseFloatLike(" 1_000.5 "), 1000.5);
  assert.equal(parseFloatLike("1e3"), 1000);
  assert.equal(parseFloatLike(".5"), 0.5);
  assert.equal(parseFloatLike("5."), 5);
  assert.ok(Number.isNaN(parseFloatLike("nan")));
  assert.equal(parseFloatLike("-Infinity"), -Infinity);
  for (const bad of ["", "abc", "1_", "_1", "1..2", "0x10", "5$", "1e"]) assert.equal(parseFloatLike(bad), undefined, bad);
});

test("budget: object-prototype names are agents like any other", async (t) => {
  const { env, file } = setup(t);
  for (const name of ["__proto__", "constructor", "toString"]) {
    const r = await runCli(["agents", "budget", name, "5"], { env });
    assert.equal(r.stdout, `updated ${name}: $5.00/hr -> ~/.config/opensre/agents.yaml\n`, r.stderr);
  }
  assert.equal((await runCli(["agents", "budget", "hasOwnProperty", "--progress-minutes", "3", "--provider"], { env })).code, 0);
  const list = await runCli(["agents", "budget"], { env });
  assert.equal(
    list.stdout,
    "agent                              hourly $  progress min  error %\n" +
      "__proto__                          $5.00     -             -\n" +
      "constructor                        $5.00     -             -\n" +
      "toString                           $5.00     -             -\n" +
      "hasOwnProperty (provider default)  -         3             -\n",
  );
  const { config } = parseConfig(readFileSync(file, "utf8"));
  assert.deepEqual(settingsFor(config, "__proto__", "x"), { hourly_budget_usd: 5 });
  assert.deepEqual(settingsFor(config, "valueOf", "constructor"), {});
  assert.deepEqual(settingsFor(config, "a", "hasOwnProperty"), { progress_minutes: 3 });
});
