import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, symlinkSync } from "node:fs";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { REPO_ROOT, STARTING_HOME, tempDir, WAIT_MS } from "../helpers/env.js";
import { stopChild } from "../helpers/scope.js";
import { PY_ELECTOR } from "../helpers/py-elector.js";

/**
 * The package as a user gets it: `npm pack` of this checkout, installed globally into a temp
 * prefix by npm with a PATH that holds only `node` and `sh` (no make, cc, g++, python), then the
 * installed `opensre` elects bus brokers against a Python peer taking Python's own flock.
 */

const NPM_CLI = join(dirname(process.execPath), "..", "lib", "node_modules", "npm", "bin", "npm-cli.js");
let work: { path: string; cleanup: () => void };
let tarball = "";
let prefix = "";
let bin = "";
const children: ChildProcess[] = [];

/** npm's own settings (registry, CA file, cache) of this machine, so the install reaches the registry as `npm ci` did. */
function npmConfig(key: string): string {
  return execFileSync(process.execPath, [NPM_CLI, "config", "get", key], { encoding: "utf8", env: { ...process.env, HOME: STARTING_HOME } }).trim();
}

before(async () => {
  work = tempDir("osre-inst-");
  bin = join(work.path, "bin");
  mkdirSync(bin);
  symlinkSync(process.execPath, join(bin, "node"));
  symlinkSync("/bin/sh", join(bin, "sh")); // npm runs scripts with sh
  const pack = JSON.parse(
    execFileSync(process.execPath, [NPM_CLI, "pack", "--ignore-scripts", "--json", "--pack-destination", work.path], { cwd: REPO_ROOT, encoding: "utf8" }),
  ) as Array<{ filename: string; files: Array<{ path: string }> }>;
  tarball = join(work.path, pack[0]!.filename);
  prefix = join(work.path, "prefix");
  const env = {
    ...process.env,
    PATH: bin,
    HOME: join(work.path, "home"),
    npm_config_globalconfig: process.env.npm_config_globalconfig ?? npmConfig("globalconfig"),
    npm_config_userconfig: process.env.npm_config_userconfig ?? npmConfig("userconfig"),
    npm_config_cache: process.env.npm_config_cache ?? npmConfig("cache"),
  };
  const r = spawnSync(process.execPath, [NPM_CLI, "install", "--global", "--prefix", prefix, "--prefer-offline", "--no-audit", "--no-fund", tarball], { env, encoding: "utf8", timeout: 300_000 });
  assert.equal(r.status, 0, `npm install -g failed:\n${r.stdout}\n${r.stderr}`);
});

after(() => {
  for (const c of children) c.kill("SIGKILL");
  work?.cleanup();
});

/** The environment of a user of the installed package: PATH has node and opensre, nothing to compile with. */
function userEnv(home: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("OPENSRE_") && !k.startsWith("npm_")) env[k] = v;
  return { ...env, PATH: `${join(prefix, "bin")}:${bin}`, HOME: join(home, "user"), OPENSRE_HOME: home, NO_COLOR: "1", ...extra };
}

function opensre(args: string[], env: NodeJS.ProcessEnv): { code: number | null; out: string } {
  const r = spawnSync(join(prefix, "bin", "opensre"), args, { env, encoding: "utf8", timeout: WAIT_MS });
  return { code: r.status, out: r.stdout + r.stderr };
}

/** A child whose stdout lines can be awaited. */
function lines(child: ChildProcess): { lines: string[]; wait: (pred: (l: string[]) => boolean, what: string) => Promise<void> } {
  children.push(child);
  const got: string[] = [];
  createInterface({ input: child.stdout! }).on("line", (l) => got.push(l));
  let err = "";
  child.stderr?.setEncoding("utf8").on("data", (d: string) => (err += d));
  const wait = async (pred: (l: string[]) => boolean, what: string) => {
    const deadline = Date.now() + WAIT_MS;
    while (!pred(got)) {
      if (Date.now() > deadline) throw new Error(`pid ${child.pid}: timed out waiting for ${what}; saw ${JSON.stringify(got)} ${err}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  };
  return { lines: got, wait };
}

function python(home: string, holdSeconds = 0) {
  const child = spawn("python3", ["-c", PY_ELECTOR, home, String(holdSeconds)], { stdio: ["pipe", "pipe", "pipe"] });
  return { child, ...lines(child) };
}

function nodeBus(env: NodeJS.ProcessEnv) {
  const child = spawn(join(prefix, "bin", "opensre"), ["agents", "bus", "--json"], { env, stdio: ["ignore", "pipe", "pipe"] });
  const l = lines(child);
  const summaries = () => l.lines.filter((x) => x.startsWith("{")).map((x) => (JSON.parse(x) as { summary: string }).summary);
  return { child, ...l, summaries };
}

/** Both sides attached to one broker: frames go both ways, and a third process's publish reaches both. */
async function assertOneBus(home: string, env: NodeJS.ProcessEnv, py: ReturnType<typeof python>, node: ReturnType<typeof nodeBus>, tag: string) {
  const broker = Number(readFileSync(join(home, "agents-bus.sock.pid"), "utf8"));
  assert.ok(broker === py.child.pid || broker === node.child.pid, `${tag}: the broker is one of the two electors (sidecar ${broker})`);
  const role = py.lines.find((l) => l === "broker" || l === "client");
  assert.equal(role, broker === py.child.pid ? "broker" : "client", `${tag}: Python's view of the election agrees with the sidecar`);
  py.child.stdin!.write(`pub from-python-${tag}\n`);
  await node.wait(() => node.summaries().includes(`from-python-${tag}`), `the Python frame (${tag})`);
  const pub = opensre(["agents", "publish", "--agent", `cli:${process.pid}`, "--summary", `from-cli-${tag}`], env);
  assert.match(pub.out, /^published [0-9a-f-]{36}\n$/);
  await py.wait((l) => l.includes(`msg from-cli-${tag}`), `the CLI frame at Python (${tag})`);
  await node.wait(() => node.summaries().includes(`from-cli-${tag}`), `the CLI frame at the bus view (${tag})`);
  return broker === py.child.pid ? "python" : "node";
}

test("the packed tarball holds exactly what runs: the compiled src/, docs and README; no tests, benchmarks or maps", () => {
  const files = execFileSync("tar", ["tzf", tarball], { encoding: "utf8" }).trim().split("\n").map((f) => f.replace(/^package\//, ""));
  assert.ok(files.includes("dist/src/cli.js") && files.includes("dist/src/index.js") && files.includes("dist/src/index.d.ts"));
  const unexpected = files.filter((f) => !(/^dist\/src\/.*\.(js|d\.ts)$/.test(f) || /^docs\//.test(f) || ["README.md", "package.json", "dist/src/web/assets/app.css"].includes(f)));
  assert.ok(files.includes("dist/src/web/assets/app.js"), "the web dashboard's page is built into the package");
  assert.deepEqual(unexpected, []);
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as { scripts: Record<string, string>; dependencies: Record<string, string>; optionalDependencies: Record<string, string> };
  assert.match(pkg.scripts.prepack!, /build:src/, "npm pack builds first");
  assert.equal(pkg.dependencies["fs-ext"], undefined, "no dependency needs a compiler");
  assert.ok(pkg.optionalDependencies["fs-ext-extra-prebuilt"]);
});

test("installed with no compiler on PATH, `opensre` runs; its lock addon is the prebuilt binary, nothing was compiled", () => {
  const check = spawnSync("/bin/sh", ["-c", "command -v make cc gcc g++ c++ python3 || true"], { env: { PATH: `${join(prefix, "bin")}:${bin}` }, encoding: "utf8" });
  assert.equal(check.stdout, "", "the install PATH has no compiler or make");
  const home = join(work.path, "h0");
  const env = userEnv(home);
  assert.match(opensre(["--version"], env).out, /^opensre-agents \d+\.\d+\.\d+\n$/);
  const addon = join(prefix, "lib", "node_modules", "opensre-agents", "node_modules", "fs-ext-extra-prebuilt");
  assert.ok(existsSync(addon), "the optional addon is installed");
  assert.equal(existsSync(join(addon, "build")), false, "and was not built from source");
  const lockModule = join(prefix, "lib", "node_modules", "opensre-agents", "dist", "src", "util", "lock.js");
  const backend = spawnSync(process.execPath, ["--input-type=module", "-e", `import(${JSON.stringify(lockModule)}).then((m) => console.log(m.lockBackend().describe))`], { env, encoding: "utf8" });
  assert.equal(backend.stdout, "flock(2) via fs-ext-extra-prebuilt\n", backend.stderr);
  assert.ok(!readdirSync(join(prefix, "lib", "node_modules", "opensre-agents")).includes("test"));
});

for (const lock of ["addon", "flock"] as const) {
  test(`installed package (locks: ${lock}): bus election against Python's flock semantics gives one broker; publish, register, budget work`, async () => {
    const home = join(work.path, `h-${lock}`);
    const env = userEnv(home, { OPENSRE_LOCK: lock });
    const winners: string[] = [];

    // 1. Python holds the election lock while our elector starts: we must wait, then join Python's broker.
    let py = python(home, 0.8);
    await py.wait((l) => l.includes("locked"), "Python's flock");
    let node = nodeBus(env);
    await py.wait((l) => l.includes("attached"), "Python attached");
    await node.wait((l) => l.some((x) => x.startsWith("tailing")), "the bus view");
    winners.push(await assertOneBus(home, env, py, node, "python-held"));
    assert.equal(winners[0], "python", "the elector that held the lock is the broker; ours joined it");
    // gone, not only signalled: a killed broker not yet reaped still looks alive to the next elector
    await Promise.all([stopChild(node.child), stopChild(py.child)]);

    // 2. Ours is the broker (the brokers above are gone): Python must join it.
    node = nodeBus(env);
    await node.wait((l) => l.some((x) => x.startsWith("tailing")), "the bus view");
    py = python(home);
    await py.wait((l) => l.includes("attached"), "Python attached");
    winners.push(await assertOneBus(home, env, py, node, "node-first"));
    assert.equal(winners[1], "node");
    // gone, not only signalled: a killed broker not yet reaped still looks alive to the next elector
    await Promise.all([stopChild(node.child), stopChild(py.child)]);

    // 3. Both start at the same instant, twice: one broker whoever wins.
    for (const round of [1, 2]) {
      py = python(home);
      node = nodeBus(env);
      await py.wait((l) => l.includes("attached"), "Python attached");
      await node.wait((l) => l.some((x) => x.startsWith("tailing")), "the bus view");
      winners.push(await assertOneBus(home, env, py, node, `race-${round}`));
      await Promise.all([stopChild(node.child), stopChild(py.child)]);
    }

    // the other commands that take locks
    const agent = spawn("/bin/sleep", ["60"], { stdio: "ignore" });
    children.push(agent);
    assert.equal(opensre(["agents", "register", String(agent.pid), "worker"], env).out, `registered worker (pid ${agent.pid})\n`);
    assert.equal(opensre(["agents", "budget", "worker", "5"], env).out, `updated worker: $5.00/hr -> ${join(home, "agents.yaml")}\n`);
    assert.match(opensre(["agents", "budget"], env).out, /^agent +hourly \$ +progress min +error %\nworker +\$5\.00 +- +-\n$/);
    agent.kill("SIGKILL");
  });
}
