import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { fitColumns, fittedTable, type ColumnSpec } from "../../src/tui/table.js";
import { FLEET_COLUMNS } from "../../src/tui/fleet-table.js";
import { clip, fit, textWidth, wrapWords } from "../../src/tui/text.js";
import { registerAgent } from "../../src/fleet/registry.js";
import { isolatedEnv, tempDir } from "../helpers/env.js";
import { runCli } from "../helpers/cli.js";
import { ScreenSession } from "../helpers/screen.js";

test("widths: wide characters take two columns; cuts end in an ellipsis and never split a character", () => {
  assert.equal(textWidth("claude"), 6);
  assert.equal(textWidth("日本語"), 6);
  assert.equal(clip("日本語エージェント", 7), "日本語…");
  assert.equal(textWidth(clip("日本語エージェント", 7)), 7);
  assert.equal(fit("ab", 4, "right"), "  ab");
  assert.equal(fit("abcdef", 4), "abc…");
  assert.deepEqual(wrapWords("prices as of 2026 rates over", 12), ["prices as of", "2026 rates", "over"]);
});

test("columns: shortened first, then dropped by priority, then shortened to their minimum", () => {
  const specs: ColumnSpec[] = [
    { head: "name", keep: true, soft: 6, min: 4 },
    { head: "a", drop: 2 },
    { head: "b", drop: 1 },
    { head: "state", keep: true },
  ];
  const natural = [12, 5, 5, 5];
  // all fits: natural widths
  assert.deepEqual(fitColumns(specs, natural, 40), { shown: [0, 1, 2, 3], widths: [12, 5, 5, 5], dropped: [] });
  // 12+5+5+5+6 = 33 > 30: name shortened to its soft width, then the room given back
  assert.deepEqual(fitColumns(specs, natural, 30), { shown: [0, 1, 2, 3], widths: [9, 5, 5, 5], dropped: [] });
  // 6+5+5+5+6 = 27 > 24: b goes first, then room is given back to name
  assert.deepEqual(fitColumns(specs, natural, 24), { shown: [0, 1, 3], widths: [10, 5, 5], dropped: ["b"] });
  // both dropped, then name down to its minimum
  assert.deepEqual(fitColumns(specs, natural, 11), { shown: [0, 3], widths: [4, 5], dropped: ["b", "a"] });
});

test("the fleet table keeps agent, pid and status at 60 columns and escapes every cell", () => {
  const row = ["\u202eevil\x1b]52;c;AAAA\x07name-that-is-long", "123456", "1h02m", "12.5", "512M", "1500", "$0.126", "50.0", "3s ago", "breach:cost,errors"];
  const { lines, fitted } = fittedTable(FLEET_COLUMNS, [row], 60);
  for (const l of lines) assert.ok(textWidth(l) <= 60, `${textWidth(l)}: ${l}`);
  assert.deepEqual(fitted.shown.map((i) => FLEET_COLUMNS[i]!.head).filter((h) => ["agent", "pid", "status"].includes(h)), ["agent", "pid", "status"]);
  assert.ok(fitted.dropped.includes("uptime"));
  assert.ok(!fitted.dropped.includes("$/hr"));
  assert.match(lines[1]!, /^\\u202eevil\\x1b]… +123456 /);
  assert.ok(!/[\x00-\x1f\u202e]/.test(lines.join("")));
});

test("/agents fits the terminal at 60, 80, 120 and 200 columns and is full width when piped", async (t) => {
  const dir = tempDir();
  t.after(dir.cleanup);
  const env = isolatedEnv(join(dir.path, "home"));
  const home = env.OPENSRE_HOME!;
  const kids = [0, 1].map(() => spawn("/bin/sleep", ["300"], { stdio: "ignore" }));
  t.after(() => kids.forEach((k) => k.kill("SIGKILL")));
  await registerAgent(home, { pid: kids[0]!.pid!, name: "reviewer-with-a-rather-long-name" });
  await registerAgent(home, { pid: kids[1]!.pid!, name: "日本語のエージェント" });
  for (const cols of [60, 80, 120, 200]) {
    const s = new ScreenSession({ env, args: ["agents"], cols, rows: 50 });
    t.after(() => s.kill());
    assert.equal(await s.exited, 0);
    await s.settled();
    assert.deepEqual(s.wrappedRows(), [], `no wrapped line at ${cols} columns:\n${s.screen()}`);
    const lines = s.lines();
    const head = lines.find((l) => l.startsWith("agent"));
    assert.ok(head, s.screen());
    assert.match(head, /^agent +pid +.*status$/);
    assert.ok(lines.some((l) => l.includes(String(kids[0]!.pid)) && /^reviewer-with-a/.test(l)), s.screen());
    assert.ok(lines.some((l) => l.includes(String(kids[1]!.pid)) && l.startsWith("日本語")), s.screen());
    const flat = lines.join(" ").replace(/\s+/g, " ");
    if (cols <= 80) assert.ok(flat.includes(`hidden at ${cols} columns (--wide shows every column)`), s.screen());
    if (cols === 200) {
      assert.ok(!s.screen().includes("hidden at"), s.screen());
      assert.match(head, /^agent +pid +uptime +cpu% +mem +tokens\/min +\$\/hr +err% +last output +status$/);
    }
  }
  const piped = await runCli(["agents"], { env });
  assert.match(piped.stdout.split("\n")[0]!, /^agent +pid +uptime +cpu% +mem +tokens\/min +\$\/hr +err% +last output +status$/);
  assert.ok(piped.stdout.includes("reviewer-with-a-rather-long-name"));
});
