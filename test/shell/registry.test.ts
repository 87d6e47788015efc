import { test } from "node:test";
import assert from "node:assert/strict";
import { CommandRegistry } from "../../src/shell/registry.js";
import { completeLine } from "../../src/shell/complete.js";
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

test("completion completes top-level commands and subcommands", () => {
  const r = new CommandRegistry()
    .register(spec(["agents"]))
    .register(spec(["agents", "bus"]))
    .register(spec(["agents", "budget"]))
    .register(spec(["agents", "trace"]));
  assert.deepEqual(completeLine(r, "/ag"), [["/agents "], "/ag"]);
  assert.deepEqual(completeLine(r, "/agents t"), [["trace "], "t"]);
  assert.deepEqual(completeLine(r, "/agents bu"), [["budget", "bus"], "bu"]);
  assert.deepEqual(completeLine(r, "/agents "), [["budget", "bus", "trace"], ""]);
  assert.deepEqual(completeLine(r, "/he"), [["/help "], "/he"]);
  assert.deepEqual(completeLine(r, "plain words"), [[], "plain words"]);
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
