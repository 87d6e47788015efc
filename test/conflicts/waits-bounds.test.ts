import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runCli } from "../helpers/cli.js";
import { isolatedEnv, tempDir } from "../helpers/env.js";
import { GRAPH_MAX_DEPTH, renderWaitGraph } from "../../src/conflicts/waits.js";
import type { AgentRecord } from "../../src/fleet/model.js";

const CHAIN = 20_000;

function record(pid: number, waitsOn: number | null): AgentRecord {
  return { name: `a${pid}`, pid, command: "sleep", registered_at: "2026-11-25T10:00:00.000Z", source: "registered", provider: "claude-code", waits_on: waitsOn, waits_since: waitsOn === null ? null : "2026-11-25T10:00:00.000Z", start_time: null };
}

test("graph: a 20,000-long wait chain is drawn GRAPH_MAX_DEPTH levels deep and the rest counted, no stack overflow", async (t) => {
  const dir = tempDir();
  t.after(dir.cleanup);
  const home = join(dir.path, "home");
  mkdirSync(home, { mode: 0o700 });
  // pid 100 waits on nobody, 101 on 100, … : one chain CHAIN long, plus a second root with one waiter
  const records = Array.from({ length: CHAIN }, (_, i) => record(100 + i, i === 0 ? null : 99 + i));
  records.push(record(900_000, null), record(900_001, 900_000));
  writeFileSync(join(home, "agents.jsonl"), records.map((r) => JSON.stringify(r)).join("\n") + "\n");
  const env = isolatedEnv(home);

  const g = await runCli(["agents", "graph"], { env });
  assert.equal(g.code, 0, g.stderr);
  assert.equal(g.stderr, "");
  const lines = g.stdout.split("\n");
  assert.equal(lines[0], "a100 (100) [active]");
  assert.match(lines[1]!, /^└─ a101 \(101\) \[waiting on a100\] for \S+$/);
  assert.match(lines[GRAPH_MAX_DEPTH - 1]!, new RegExp(`^ {${3 * (GRAPH_MAX_DEPTH - 2)}}└─ a${99 + GRAPH_MAX_DEPTH} `));
  assert.equal(lines[GRAPH_MAX_DEPTH], `${" ".repeat(3 * (GRAPH_MAX_DEPTH - 1))}└─ … ${CHAIN - GRAPH_MAX_DEPTH} more agents waiting below (deeper than ${GRAPH_MAX_DEPTH} levels)`);
  assert.equal(lines[GRAPH_MAX_DEPTH + 1], "a900000 (900000) [active]");
  assert.match(lines[GRAPH_MAX_DEPTH + 2]!, /^└─ a900001 \(900001\) \[waiting on a900000\]/);
  assert.equal(lines.length, GRAPH_MAX_DEPTH + 4, "nothing else drawn");

  // closing the chain into a cycle is refused with the whole cycle named; no recursion there either
  const w = await runCli(["agents", "wait", "100", "--on", String(99 + CHAIN)], { env });
  assert.equal(w.code, 1);
  assert.ok(w.stderr.startsWith("agent dependency cycle detected: a100 (100) -> a20099 (20099) -> a20098 (20098)"), w.stderr.slice(0, 200));
});

test("renderWaitGraph: a wide tree is drawn whole; an exact count at the depth limit", () => {
  const wide = [record(1, null), ...Array.from({ length: 3 }, (_, i) => record(10 + i, 1))];
  assert.equal(
    renderWaitGraph(wide, Date.parse("2026-11-25T10:00:05.000Z")),
    "a1 (1) [active]\n├─ a10 (10) [waiting on a1] for 5s\n├─ a11 (11) [waiting on a1] for 5s\n└─ a12 (12) [waiting on a1] for 5s\n",
  );
  // exactly GRAPH_MAX_DEPTH levels: drawn whole; one more: one agent counted
  const chain = (n: number) => Array.from({ length: n }, (_, i) => record(1 + i, i === 0 ? null : i));
  assert.equal(renderWaitGraph(chain(GRAPH_MAX_DEPTH), 0).trimEnd().split("\n").length, GRAPH_MAX_DEPTH);
  const over = renderWaitGraph(chain(GRAPH_MAX_DEPTH + 1), 0).trimEnd().split("\n");
  assert.equal(over.length, GRAPH_MAX_DEPTH + 1);
  assert.match(over.at(-1)!, /└─ … 1 more agent waiting below \(deeper than 50 levels\)$/);
});
