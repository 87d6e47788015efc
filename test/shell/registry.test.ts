import { test } from "node:test";
import assert from "node:assert/strict";
import { CommandRegistry } from "../../src/shell/registry.js";
import { completeLine, usageSlots } from "../../src/shell/complete.js";
import { buildRegistry } from "../../src/commands/index.js";
import { tokenize } from "../../src/shell/tokenize.js";
import type { CommandSpec } from "../../src/shell/command.js";

const spec = (path: string[]): CommandSpec => ({
  path,
  summary: path.join(" "),
  usage: "/" + path.join(" "),
  run: async () => 0,
});

test("resolve picks the longest registered path and passes the rest as args", () => {
  const r = new CommandRegistry().register(spec(["agents"])).register(spec(["agents", "bus"]));
  assert.deepEqual(r.resolve(["agents", "bus", "--json"])?.args, ["--json"]);
  assert.deepEqual(r.resolve(["agents", "bus"])?.spec.path, ["agents", "bus"]);
  assert.deepEqual(r.resolve(["agents", "--wide"])?.spec.path, ["agents"]);
  assert.deepEqual(r.resolve(["agents", "trace", "12"])?.args, ["trace", "12"]);
  assert.equal(r.resolve(["nope"]), undefined);
});

test("registering the same path twice is a programming error", () => {
  const r = new CommandRegistry().register(spec(["agents", "bus"]));
  assert.throws(() => r.register(spec(["agents", "bus"])), /already registered: agents bus/);
});

test("completion completes top-level commands and subcommands", async () => {
  const r = new CommandRegistry()
    .register(spec(["agents"]))
    .register(spec(["agents", "bus"]))
    .register(spec(["agents", "budget"]))
    .register(spec(["agents", "trace"]));
  assert.deepEqual(await completeLine(r, "/ag"), [["/agents "], "/ag"]);
  assert.deepEqual(await completeLine(r, "/agents t"), [["trace "], "t"]);
  assert.deepEqual(await completeLine(r, "/agents bu"), [["budget", "bus"], "bu"]);
  assert.deepEqual(await completeLine(r, "/agents "), [["budget", "bus", "trace"], ""]);
  assert.deepEqual(await completeLine(r, "/he"), [["/help "], "/he"]);
  assert.deepEqual(await completeLine(r, "/help agents b"), [["budget", "bus"], "b"]);
  assert.deepEqual(await completeLine(r, "plain words"), [[], "plain words"]);
});

test("completion of the real commands: flags from each usage, incidents verbs, pids and incident ids from their source", async () => {
  const r = buildRegistry();
  const source = async (p: string) => {
    return p === "pid" ? ["4242", "4711", "5864"] : p === "id" ? ["07745542", "0a11ce00"] : [];
  };
  assert.deepEqual(await completeLine(r, "/agents trace ", source), [["4242", "4711", "5864"], ""]);
  assert.deepEqual(await completeLine(r, "/agents trace 47", source), [["4711 "], "47"]);
  assert.deepEqual(await completeLine(r, "/agents trace 4711 --ta", source), [["--tail "], "--ta"]);
  assert.deepEqual(await completeLine(r, "/agents trace 4711 --", source), [["--tail", "--stderr", "--raw", "--transcript"], "--"]);
  assert.deepEqual(await completeLine(r, "/agents trace 4711 --tail ", source), [[], ""], "--tail takes a number: nothing to offer");
  assert.deepEqual(await completeLine(r, "/agents kill ", source), [["4242", "4711", "5864"], ""]);
  assert.deepEqual(await completeLine(r, "/agents kill 4242 --f", source), [["--force "], "--f"]);
  assert.deepEqual(await completeLine(r, "/agents wait 4242 --on 58", source), [["5864 "], "58"]);
  assert.deepEqual(await completeLine(r, "/agents incidents ", source), [["show", "ack", "resolve"], ""]);
  assert.deepEqual(await completeLine(r, "/agents incidents re", source), [["resolve "], "re"]);
  assert.deepEqual(await completeLine(r, "/agents incidents show ", source), [["07745542", "0a11ce00"], ""]);
  assert.deepEqual(await completeLine(r, "/agents incidents ack 07", source), [["07745542 "], "07"]);
  assert.deepEqual(await completeLine(r, "/agents incidents --a", source), [["--all "], "--a"]);
  assert.deepEqual(await completeLine(r, "/agents --w", source), [["--wide", "--watch"], "--w"]);
  assert.deepEqual(await completeLine(r, "/agents register 4242 ", source), [[], ""], "a name is free text");
  assert.deepEqual(await completeLine(r, "/agents trace ", async () => Promise.reject(new Error("no /proc"))), [[], ""], "a failing source offers nothing");
});

test("usage slots: flags, flag values, positionals and verbs read from the usage line", () => {
  const s = usageSlots({ path: ["agents", "incidents"], usage: "usage: /agents incidents [--all] [--json] | show <id> | ack <id> | resolve <id>" });
  assert.deepEqual(s.flags, ["--all", "--json"]);
  assert.deepEqual([...s.verbs], [["show", ["id"]], ["ack", ["id"]], ["resolve", ["id"]]]);
  const w = usageSlots({ path: ["agents", "wait"], usage: "/agents wait <pid> --on <other-pid>  |  /agents wait <pid> --clear" });
  assert.deepEqual(w.positionals, ["pid"]);
  assert.equal(w.flagValues.get("--on"), "other-pid");
  const t = usageSlots({ path: ["agents", "trace"], usage: "usage: /agents trace <pid> [--tail N] [--stderr] [--raw] [--transcript]" });
  assert.equal(t.flagValues.get("--tail"), "N");
  assert.deepEqual(t.positionals, ["pid"]);
  const reg = usageSlots({ path: ["agents", "register"], usage: "usage: /agents register <pid> [name] [--command C]" });
  assert.deepEqual(reg.positionals, ["pid", "name"]);
});

test("tokenize honours quotes and rejects shell operators", () => {
  assert.deepEqual(tokenize(`agents publish --summary 'null deref' --data '{"a":1}'`), [
    "agents",
    "publish",
    "--summary",
    "null deref",
    "--data",
    '{"a":1}',
  ]);
  assert.deepEqual(tokenize(`agents publish --summary "cost is $HOME"`), ["agents", "publish", "--summary", "cost is $HOME"]);
  assert.throws(() => tokenize("agents | grep x"), /unsupported shell syntax: \|/);
});
