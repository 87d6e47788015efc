import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { OUT_DIR, isolatedEnv, tempDir } from "../helpers/env.js";
import { until } from "../helpers/bus-raw.js";

/*
 * The bus under load: 8 subscribers and one publisher at full speed (every publish in
 * flight at once), all our own clients in separate processes, on a machine with both cores
 * busy (two CPU hogs). Every subscriber must receive every frame, in every run.
 * `npm run test:bus-load` runs it 20 times (BUS_LOAD_RUNS); the suite runs it once.
 */
const RUNS = Number(process.env.BUS_LOAD_RUNS ?? "1");
const FRAMES = Number(process.env.BUS_LOAD_FRAMES ?? "5000");
const SUBSCRIBERS = 8;
const PEER = join(OUT_DIR, "test", "helpers", "bus-peer.js");

function peer(mode: string, socket: string, env: NodeJS.ProcessEnv): { child: ChildProcess; lines: string[] } {
  const child = spawn(process.execPath, [PEER], {
    env: { ...env, BUS_PEER_MODE: mode, BUS_PEER_SOCKET: socket, BUS_PEER_QUIET: "1", BUS_PEER_COUNT: String(FRAMES) },
    stdio: ["pipe", "pipe", "inherit"],
  });
  const lines: string[] = [];
  createInterface({ input: child.stdout! }).on("line", (l) => lines.push(l));
  return { child, lines };
}

test(`${SUBSCRIBERS} subscribers and a full-speed publisher with both cores busy: every subscriber receives every frame (${RUNS} run${RUNS === 1 ? "" : "s"} of ${FRAMES})`, async (t) => {
  const hogs = [0, 1].map(() => spawn(process.execPath, ["-e", "for (;;) {}"], { stdio: "ignore" }));
  t.after(() => hogs.forEach((h) => h.kill("SIGKILL")));
  const failures: string[] = [];
  for (let run = 1; run <= RUNS; run++) {
    const dir = tempDir();
    const env = isolatedEnv(dir.path);
    const socket = join(dir.path, "agents-bus.sock");
    const procs: Array<{ child: ChildProcess; lines: string[] }> = [];
    try {
      const subs = Array.from({ length: SUBSCRIBERS }, () => peer("sub", socket, env));
      procs.push(...subs);
      await Promise.all(subs.map((s) => until(() => s.lines.includes(`ready ${s.child.pid}`), 60_000, "a subscriber")));
      const pub = peer("burst", socket, env);
      procs.push(pub);
      await until(() => pub.lines.includes(`ready ${pub.child.pid}`), 60_000, "the publisher");
      const started = Date.now();
      pub.child.stdin!.write("go\n");
      await until(() => pub.lines.some((l) => l.startsWith("done ")), 120_000, "the publisher to finish");
      const done = pub.lines.find((l) => l.startsWith("done "))!;
      if (done !== `done ok ${FRAMES} failed 0`) failures.push(`run ${run}: publisher ${done}`);
      const reports = async () => {
        for (const s of subs) s.child.stdin!.write("report\n");
        await new Promise((r) => setTimeout(r, 200));
        return subs.map((s) => [...s.lines].reverse().find((l) => l.startsWith("got ")) ?? "");
      };
      let last: string[] = [];
      const deadline = Date.now() + 120_000;
      while (Date.now() < deadline) {
        last = await reports();
        if (last.every((l) => /^got (\d+) dropped (\d+)/.exec(l) && Number(/^got (\d+)/.exec(l)![1]) + Number(/dropped (\d+)/.exec(l)![1]) >= FRAMES)) break;
      }
      const secs = (Date.now() - started) / 1000;
      const bad = last.filter((l) => l !== `got ${FRAMES} dropped 0 handovers 0`);
      if (bad.length > 0) failures.push(`run ${run}: ${bad.length} subscriber(s) short: ${last.join(", ")}`);
      process.stdout.write(`# run ${run}: ${SUBSCRIBERS} × ${FRAMES} frames in ${secs.toFixed(1)} s${bad.length ? " (SHORT)" : ""}\n`);
    } finally {
      for (const p of procs) p.child.kill("SIGKILL");
      dir.cleanup();
    }
  }
  assert.deepEqual(failures, []);
});
