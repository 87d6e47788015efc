import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { isolatedEnv, tempDir } from "../helpers/env.js";
import { FleetCollector } from "../../src/fleet/collector.js";
import { copilotLiveSession } from "../../src/fleet/transcripts/copilot.js";

const SID_OLD = "c0c0c0c0-1111-4111-8111-111111111111";
const SID_NEW = "c1c1c1c1-2222-4222-8222-222222222222";

/**
 * What Copilot CLI 1.0 does for the session it runs (seen with 1.0.102): `inuse.<pid>.lock`
 * holding the pid, and `inuse.<pid>.hold` kept open, in `session-state/<id>/`; written by the
 * process named like the npm wrapper's script (`…/bin/copilot`), so discovery sees a Copilot.
 */
const FAKE_COPILOT = `
const fs = require("node:fs"), path = require("node:path");
const [home, id] = process.argv.slice(2);
const dir = path.join(home, "session-state", id);
fs.mkdirSync(dir, { recursive: true });
fs.writeFileSync(path.join(dir, "inuse." + process.pid + ".lock"), String(process.pid));
const hold = fs.openSync(path.join(dir, "inuse." + process.pid + ".hold"), "w");
process.stdout.write("ready\\n");
setInterval(() => hold, 60_000);
`;

function events(home: string, sid: string, cwd: string, startedAt: number, lastAt: number, prompt: string): void {
  const dir = join(home, "session-state", sid);
  mkdirSync(dir, { recursive: true });
  const ev = (type: string, at: number, data: object) => JSON.stringify({ type, id: `${sid}-${at}`, timestamp: new Date(at).toISOString(), data }) + "\n";
  writeFileSync(join(dir, "events.jsonl"), ev("session.start", startedAt, { sessionId: sid, context: { cwd } }) + ev("user.message", lastAt, { content: prompt }));
}

test("two Copilot CLIs in one folder: each maps to the session whose in-use marker it holds open, even when the older one is the more recently active", async (t) => {
  const dir = tempDir();
  t.after(dir.cleanup);
  const bin = join(dir.path, "bin");
  mkdirSync(bin);
  writeFileSync(join(bin, "copilot"), FAKE_COPILOT);
  const shop = join(dir.path, "shop");
  mkdirSync(shop);
  const osre = isolatedEnv(join(dir.path, "osre"));
  const home = join(dir.path, "copilot-home");
  const env = { ...osre, COPILOT_HOME: home };
  const kids: ChildProcess[] = [];
  t.after(() => kids.forEach((k) => k.kill("SIGKILL")));
  const start = async (sid: string) => {
    const k = spawn(process.execPath, [join(bin, "copilot"), home, sid], { cwd: shop, env, stdio: ["ignore", "pipe", "ignore"] });
    kids.push(k);
    await new Promise<void>((resolve, reject) => {
      k.stdout!.once("data", () => resolve());
      k.once("exit", (code) => reject(new Error(`fake copilot exited ${code}`)));
    });
    return k;
  };
  const older = await start(SID_OLD);
  await new Promise((r) => setTimeout(r, 1100)); // distinct start times (clock ticks of /proc)
  const newer = await start(SID_NEW);
  const now = Date.now();
  // the older process is the one answering now; the newer one sent its prompt a while ago
  events(home, SID_NEW, shop, now - 900, now - 800, "newer prompt");
  events(home, SID_OLD, shop, now - 2000, now - 10, "older prompt");
  // a marker left behind by a process that is gone (no one holds it) names no session
  const stale = join(home, "session-state", "deadbeef-3333-4333-8333-333333333333");
  mkdirSync(stale, { recursive: true });
  writeFileSync(join(stale, `inuse.${older.pid}.hold`), "");

  const collector = new FleetCollector({ home: osre.OPENSRE_HOME!, env, firstSampleMs: 0, telemetry: null });
  const rows = (await collector.refresh()).agents;
  const row = (pid: number) => rows.find((a) => a.pid === pid);
  assert.equal(row(older.pid!)?.provider, "copilot");
  assert.equal(row(older.pid!)?.transcript?.sessionId, SID_OLD);
  assert.equal(row(newer.pid!)?.transcript?.sessionId, SID_NEW);
  assert.equal(row(newer.pid!)?.transcript?.transcriptPath, join(home, "session-state", SID_NEW, "events.jsonl"));
  assert.ok(collector.store.listedLastRefresh(join(home, "session-state", SID_OLD, "events.jsonl")));
  assert.equal(collector.store.listedLastRefresh(join(stale, "events.jsonl")), false, "only the held sessions are looked at");
});

test("the Copilot in-use marker counts only when held open by a pid of the agent's own tree", () => {
  const hold = (sid: string, pid: number) => `/h/.copilot/session-state/${sid}/inuse.${pid}.hold`;
  assert.deepEqual(copilotLiveSession({ pids: [10, 11], openFiles: ["/dev/null", hold(SID_NEW, 11)] }), { sessionId: SID_NEW, paths: [`/h/.copilot/session-state/${SID_NEW}/events.jsonl`] });
  assert.equal(copilotLiveSession({ pids: [10], openFiles: [hold(SID_NEW, 11)] }), null, "another process's marker");
  assert.equal(copilotLiveSession({ pids: [11], openFiles: [`/h/.copilot/session-state/${SID_NEW}/inuse.11.lock`] }), null, "the lock file alone is not held");
  assert.equal(copilotLiveSession({ pids: [11], openFiles: [] }), null);
});
