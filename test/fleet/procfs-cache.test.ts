import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { newProcCache, readProcessTable, unixSocketConnections } from "../../src/fleet/procfs.js";
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
