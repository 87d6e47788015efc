import { test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { ScreenSession } from "../helpers/screen.js";
import { tempDir, WAIT_MS } from "../helpers/env.js";
import { makeFleet } from "../tui/fixture.js";
import { LIVE_OBJECTIVES_EVERY_MS, LiveObjectives } from "../../src/history/live.js";
import { HistoryRecorder } from "../../src/history/recorder.js";
import { HistoryStore } from "../../src/history/store.js";
import type { Objective } from "../../src/slo/objectives.js";

const SUCCESS: Objective = { kind: "success", targetPct: 99, windowMs: 28 * 86_400_000 };

test("the live view's details page shows each windowed objective's budget left and burn rates, from the history store", async (t) => {
  const f = await makeFleet();
  t.after(f.cleanup);
  const alpha = `${f.tag}-alpha`;
  writeFileSync(join(f.home, "agents.yaml"), `agents:\n  ${alpha}:\n    hourly_budget_usd: 5\n    success_objective_pct: 99\n    spend_objective_pct: 95\n    slo_window: 7d\n`);
  const s = new ScreenSession({ env: f.env, args: ["top", "--interval", "0.5"], cols: 140, rows: 40, cwd: f.dir });
  t.after(() => s.kill());
  // the view is up (other agents on the machine may push this run's rows off screen until it is filtered)
  await s.waitForText(/^(opensre )?top {2}\d+ agents? ·/m);
  s.write("/");
  s.write(alpha);
  s.write("\r");
  await s.waitForText(`filter "${alpha}" (1 of`);
  s.write("\r");
  await s.waitForText(`${alpha} (pid ${f.alpha.pid}) · claude-code`);
  // the first figures come after the store has read the transcript (in the background)
  await s.waitForText(/success +≥ 99% over 7d +ok +budget left 100\.0% · burn 1h 0\.0×, 7d 0\.0× · attained 100\.0%/, WAIT_MS);
  const screen = s.screen();
  assert.match(screen, /spend +≤ \$5\.00\/h in 95% of hours over 7d +ok +budget left 100\.0% · burn 1h 0\.0×, 7d 0\.0× · attained 100\.0%/);
  assert.match(screen, /cost +budget \$5\.00\/h +ok/, "the threshold SLO is still shown");
  assert.deepEqual(s.wrappedRows(), []);
  s.write("q");
  assert.equal(await s.exited, 0);
});

test("live budgets: pending until the first update, then cached; history off says why; a failure never throws", async (t) => {
  const dir = tempDir();
  t.after(dir.cleanup);
  const store = HistoryStore.open(dir.path, process.env);
  t.after(() => store.close());
  let clock = Date.parse("2026-11-25T12:00:00Z");
  let updates = 0;
  const recorder = new HistoryRecorder(store, dir.path, { HOME: join(dir.path, "nohome"), CLAUDE_CONFIG_DIR: join(dir.path, "none") }, () => clock);
  const live = new LiveObjectives(
    async () => {
      updates++;
      return recorder;
    },
    () => "unused",
    () => clock,
  );
  assert.deepEqual(live.budgets("a", []), { state: "ready", statuses: [] }, "no objective: nothing to read");
  assert.equal(updates, 0);
  assert.deepEqual(live.budgets("a", [SUCCESS]), { state: "pending" });
  await live.update(); // the background update in progress
  const ready = live.budgets("a", [SUCCESS]);
  assert.equal(ready.state, "ready");
  assert.equal(ready.state === "ready" && ready.statuses[0]!.attainmentPct, null, "no requests yet");
  const before = updates;
  live.budgets("a", [SUCCESS]);
  assert.equal(updates, before, "cached within LIVE_OBJECTIVES_EVERY_MS");
  clock += LIVE_OBJECTIVES_EVERY_MS;
  live.budgets("a", [SUCCESS]);
  await live.update();
  assert.equal(updates, before + 1, "due again after LIVE_OBJECTIVES_EVERY_MS");

  const off = new LiveObjectives(async () => null, () => "history is off: better-sqlite3 is not installed");
  off.budgets("b", [SUCCESS]);
  await off.update();
  assert.deepEqual(off.budgets("b", [SUCCESS]), { state: "off", reason: "history is off: better-sqlite3 is not installed" });

  const broken = new LiveObjectives(
    async () => {
      throw new Error("history database /x is locked by another process\nmore");
    },
    () => "",
  );
  broken.budgets("c", [SUCCESS]);
  await broken.update();
  assert.deepEqual(broken.budgets("c", [SUCCESS]), { state: "off", reason: "history database /x is locked by another process" });
});
