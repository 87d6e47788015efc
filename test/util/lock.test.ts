import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, lstatSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { tempDir } from "../helpers/env.js";
import { lockBackend, resetLockBackend, withFileLock } from "../../src/util/lock.js";

/**
 * Python's `fcntl.flock`, the lock the Python OpenSRE bus election takes. It holds an exclusive
 * flock on argv[1] (printing `locked`) until it reads a line, or with argv[2] == "try" only
 * tries (printing `busy` or `free`).
 */
const PY_FLOCK = `
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
if len(sys.argv) > 2 and sys.argv[2] == "try":
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        print("free", flush=True)
    except BlockingIOError:
        print("busy", flush=True)
    sys.exit(0)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
sys.stdin.readline()
fcntl.flock(fd, fcntl.LOCK_UN)
`;

function pyTry(path: string): string {
  const r = spawnSync("python3", ["-c", PY_FLOCK, path, "try"], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

async function pyHold(path: string): Promise<{ release: () => void; done: Promise<void> }> {
  const child = spawn("python3", ["-c", PY_FLOCK, path], { stdio: ["pipe", "pipe", "inherit"] });
  const lines = createInterface({ input: child.stdout! });
  await new Promise<void>((resolve, reject) => {
    lines.once("line", (l) => (l === "locked" ? resolve() : reject(new Error(l))));
    child.once("exit", (code) => reject(new Error(`python exited ${code}`)));
  });
  const done = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return { release: () => child.stdin!.end("\n"), done };
}

/** Each way of taking the lock, forced in turn; the addon only where it is installed and loads. */
const backends: Array<"addon" | "flock" | "perl"> = ["flock", "perl"];
try {
  process.env.OPENSRE_LOCK = "addon";
  resetLockBackend();
  lockBackend();
  backends.unshift("addon");
} catch {
  /* the optional addon is not installed here: the helpers alone are tested */
} finally {
  delete process.env.OPENSRE_LOCK;
  resetLockBackend();
}

/** Force the lock backend `name` for the rest of test `t`; returns a temp dir removed when it ends. */
function useBackend(t: TestContext, name: "addon" | "flock" | "perl"): string {
  const dir = tempDir();
  t.after(dir.cleanup);
  process.env.OPENSRE_LOCK = name;
  resetLockBackend();
  t.after(() => {
    delete process.env.OPENSRE_LOCK;
    resetLockBackend();
  });
  return dir.path;
}

test("the addon loads from its prebuilt binary on this machine (no compiler needed)", () => {
  assert.ok(backends.includes("addon"), "fs-ext-extra-prebuilt is an optional dependency and ships a binary for this platform");
  delete process.env.OPENSRE_LOCK;
  resetLockBackend();
  assert.deepEqual(lockBackend(), { name: "addon", describe: "flock(2) via fs-ext-extra-prebuilt" });
});

for (const name of backends) {
  test(`${name}: a lock held by Python's fcntl.flock keeps us out until Python releases it, and ours keeps Python out`, async (t) => {
    const dir = useBackend(t, name);
    const path = join(dir, "agents-bus.sock.lock");

    const py = await pyHold(path);
    let entered = false;
    const ours = withFileLock(path, () => {
      entered = true;
      return pyTry(path);
    });
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(entered, false, "we must wait while Python holds the flock");
    py.release();
    await py.done;
    assert.equal(await ours, "busy", "while we hold it, Python's LOCK_NB attempt fails");
    assert.equal(entered, true);
    assert.equal(pyTry(path), "free", "released when withFileLock returns");
  });

  test(`${name}: callers in one process queue, a throwing callback releases the lock, the file is 0600`, async (t) => {
    const dir = useBackend(t, name);
    const path = join(dir, "x.lock");
    const order: string[] = [];
    const slow = withFileLock(path, async () => {
      order.push("a+");
      await new Promise((r) => setTimeout(r, 100));
      order.push("a-");
    });
    const fast = withFileLock(path, () => void order.push("b"));
    await Promise.all([slow, fast]);
    assert.deepEqual(order, ["a+", "a-", "b"]);
    await assert.rejects(withFileLock(path, () => Promise.reject(new Error("boom"))), /boom/);
    assert.equal(pyTry(path), "free");
    assert.equal(lstatSync(path).mode & 0o777, 0o600);
  });
}

test("a symlink planted at a lock file is refused: nothing outside the home is created or touched", async (t) => {
  const dir = tempDir();
  t.after(dir.cleanup);
  const home = join(dir.path, "home");
  mkdirSync(home);
  const outside = join(dir.path, "outside");
  mkdirSync(outside);
  const dangling = join(home, "agents.jsonl.lock");
  symlinkSync(join(outside, "created-by-us"), dangling);
  await assert.rejects(withFileLock(dangling, () => "ran"), { message: `refusing to use lock file ${dangling}: it is a symbolic link (remove it)` });
  assert.equal(existsSync(join(outside, "created-by-us")), false);

  const victim = join(outside, "precious");
  writeFileSync(victim, "keep\n", { mode: 0o644 });
  const before = lstatSync(victim);
  const pointed = join(home, "incidents.jsonl.lock");
  symlinkSync(victim, pointed);
  await assert.rejects(withFileLock(pointed, () => "ran"), /it is a symbolic link/);
  const after = lstatSync(victim);
  assert.equal(readFileSync(victim, "utf8"), "keep\n");
  assert.equal(after.mode, before.mode);
  assert.equal(after.mtimeMs, before.mtimeMs);
});

test("a FIFO planted at a lock file is refused at once instead of hanging", async (t) => {
  const dir = tempDir();
  t.after(dir.cleanup);
  const fifo = join(dir.path, "claims.json.lock");
  assert.equal(spawnSync("mkfifo", [fifo]).status, 0);
  await assert.rejects(withFileLock(fifo, () => "ran"), { message: `refusing to use lock file ${fifo}: not a regular file (remove it)` });
});
