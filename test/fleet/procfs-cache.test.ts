import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { MAX_ENVIRON_CACHE, newProcCache, processLocationEnv, readProcessTable, SWEEP_ROUNDS, unixSocketConnections } from "../../src/fleet/procfs.js";
import { tempDir } from "../helpers/env.js";

function proc(root: string, pid: number, comm: string, start: number, argv: string[], uid = 1000): void {
  const d = join(root, String(pid));
  mkdirSync(d, { recursive: true });
  writeFileSync(join(d, "stat"), `${pid} (${comm}) S 1 ${pid} ${pid} 0 -1 0 0 0 0 0 7 3 0 0 20 0 1 0 ${start} 1000 50 0`);
  writeFileSync(join(d, "status"), `Name:\t${comm}\nUid:\t${uid}\t${uid}\t${uid}\t${uid}\n`);
  writeFileSync(join(d, "cmdline"), argv.join("\0") + "\0");
}

test("process table cache: command lines are read again only when the image changes; gone pids are dropped", (t) => {
  const dir = tempDir();
  t.after(dir.cleanup);
  const root = dir.path;
  proc(root, 10, "sh", 100, ["/bin/sh", "-c", "exec claude"]);
  proc(root, 11, "sleep", 100, ["sleep", "9"]);
  const cache = newProcCache();
  const first = readProcessTable({ procRoot: root, cache });
  assert.deepEqual(first.procs.map((p) => p.argv[0]).sort(), ["/bin/sh", "sleep"]);
  // the cmdline file changes but the image does not (same start, same comm): the cached argv stands
  writeFileSync(join(root, "11", "cmdline"), "changed\0");
  assert.equal(readProcessTable({ procRoot: root, cache }).procs.find((p) => p.pid === 11)!.argv[0], "sleep");
  // execve: comm changes, the command line is read again
  proc(root, 10, "claude", 100, ["claude", "--resume"]);
  assert.deepEqual(readProcessTable({ procRoot: root, cache }).procs.find((p) => p.pid === 10)!.argv, ["claude", "--resume"]);
  // a reused pid (another start time) is read again too
  proc(root, 11, "sleep", 200, ["sleep", "1"]);
  assert.deepEqual(readProcessTable({ procRoot: root, cache }).procs.find((p) => p.pid === 11)!.argv, ["sleep", "1"]);
  rmSync(join(root, "11"), { recursive: true });
  readProcessTable({ procRoot: root, cache });
  assert.deepEqual([...cache.entries.keys()], [10]);
  // without a cache, every read is fresh
  writeFileSync(join(root, "10", "cmdline"), "fresh\0");
  assert.equal(readProcessTable({ procRoot: root }).procs[0]!.argv[0], "fresh");
});

test("process table cache with a focus: the fleet's processes every read, others by a rolling sweep, new pids at once", (t) => {
  const dir = tempDir();
  t.after(dir.cleanup);
  const root = dir.path;
  const pids = Array.from({ length: SWEEP_ROUNDS * 2 }, (_, i) => 100 + i);
  for (const pid of pids) proc(root, pid, "sleep", 100, ["sleep", "9"]);
  const cache = newProcCache();
  readProcessTable({ procRoot: root, cache });
  cache.focus = new Set([100]);
  const ticks = (pid: number, table = readProcessTable({ procRoot: root, cache })) => table.procs.find((p) => p.pid === pid)!.cpuTicks;
  // utime 7 + stime 3 in the files written by proc(); let every process use more CPU
  for (const pid of pids) writeFileSync(join(root, String(pid), "stat"), `${pid} (sleep) S 1 ${pid} ${pid} 0 -1 0 0 0 0 0 70 30 0 0 20 0 1 0 100 1000 50 0`);
  // the agent in focus is read every time; the others keep their entry until their turn
  const looked = new Map<number, number>();
  for (let r = 0; r < SWEEP_ROUNDS; r++) {
    const table = readProcessTable({ procRoot: root, cache });
    assert.equal(ticks(100, table), 100, "the process in focus is read at every refresh");
    assert.equal(table.procs.length, pids.length, "every process is in the table");
    for (const pid of pids) if (ticks(pid, table) === 100 && !looked.has(pid)) looked.set(pid, r);
    if (r === 0) assert.ok(looked.size < pids.length, "not every process is read at each refresh");
  }
  assert.equal(looked.size, pids.length, `every process is read again within ${SWEEP_ROUNDS} refreshes`);
  // a new pid is read at once, whatever its turn, and an execve into an agent is found by the sweep
  proc(root, 200, "claude", 300, ["claude"]);
  assert.deepEqual(readProcessTable({ procRoot: root, cache }).procs.find((p) => p.pid === 200)!.argv, ["claude"]);
  proc(root, 101, "claude", 100, ["claude", "--resume"]);
  const found: boolean[] = [];
  for (let r = 0; r < SWEEP_ROUNDS; r++) found.push(readProcessTable({ procRoot: root, cache }).procs.find((p) => p.pid === 101)!.comm === "claude");
  assert.ok(found.includes(true), "the exec'd process is seen within the sweep");
  // a gone pid leaves the table and the cache at the next read
  rmSync(join(root, "102"), { recursive: true });
  assert.equal(readProcessTable({ procRoot: root, cache }).procs.some((p) => p.pid === 102), false);
  assert.equal(cache.entries.has(102), false);
  // focus: null (the default) reads everything
  cache.focus = null;
  for (const pid of pids.filter((p) => p !== 102)) writeFileSync(join(root, String(pid), "stat"), `${pid} (sleep) S 1 ${pid} ${pid} 0 -1 0 0 0 0 0 700 300 0 0 20 0 1 0 100 1000 50 0`);
  const all = readProcessTable({ procRoot: root, cache });
  assert.ok(all.procs.filter((p) => p.pid !== 101 && p.pid !== 200).every((p) => p.cpuTicks === 1000));
});

test("an agent's location variables are read once per process (pid and start time); the cache is bounded", (t) => {
  const dir = tempDir();
  t.after(dir.cleanup);
  const root = dir.path;
  mkdirSync(join(root, "42"));
  const environ = (home: string) => writeFileSync(join(root, "42", "environ"), `PATH=/bin\0HOME=${home}\0SECRET_TOKEN=x\0`);
  environ("/home/a");
  assert.deepEqual(processLocationEnv(42, root, 1000), { HOME: "/home/a" });
  environ("/home/b");
  assert.deepEqual(processLocationEnv(42, root, 1000), { HOME: "/home/a" }, "the same process: not read again");
  assert.deepEqual(processLocationEnv(42, root), { HOME: "/home/b" }, "without a start time: read");
  assert.deepEqual(processLocationEnv(42, root, 2000), { HOME: "/home/b" }, "a reused pid: read");
  // a caller changing its copy does not change the cache
  processLocationEnv(42, root, 2000)!.HOME = "/elsewhere";
  assert.deepEqual(processLocationEnv(42, root, 2000), { HOME: "/home/b" });
  // past the bound the cache starts over, and every answer stays right
  for (let i = 0; i < MAX_ENVIRON_CACHE + 10; i++) assert.equal(processLocationEnv(42, root, 10_000 + i)!.HOME, "/home/b");
  environ("/home/c");
  assert.equal(processLocationEnv(42, root, 10_000)!.HOME, "/home/c", "the oldest entries were dropped");
  assert.equal(processLocationEnv(43, root, 1000), null, "a process that is gone");
});

test("unix socket connections are counted from /proc/net/unix, paths with spaces included", (t) => {
  const dir = tempDir();
  t.after(dir.cleanup);
  mkdirSync(join(dir.path, "net"));
  const path = "/home/a b/agents-bus.sock";
  writeFileSync(
    join(dir.path, "net", "unix"),
    [
      "Num       RefCount Protocol Flags    Type St Inode Path",
      `0000000000000000: 00000002 00000000 00010000 0001 01 47107 ${path}`,
      `0000000000000001: 00000003 00000000 00000000 0001 03 47110 ${path}`,
      `0000000000000002: 00000003 00000000 00000000 0001 03 47111 ${path}`,
      `0000000000000003: 00000003 00000000 00000000 0001 03 47112 ${path}.other`,
      "0000000000000004: 00000003 00000000 00000000 0001 03 47113",
      "",
    ].join("\n"),
  );
  assert.equal(unixSocketConnections(path, dir.path), 2);
  assert.equal(unixSocketConnections("/nowhere.sock", dir.path), 0);
  assert.equal(unixSocketConnections(path, join(dir.path, "missing")), null);
});
