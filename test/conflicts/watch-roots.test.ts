import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { copyFileSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { CliProcess } from "../helpers/cli.js";
import { isolatedEnv, tempDir, WAIT_MS } from "../helpers/env.js";
import { chooseWatchRoots, MAX_WATCH_ROOTS, watchRoot } from "../../src/conflicts/watcher.js";

/** inotify watches held by a process (one per watched directory). */
function inotifyWatches(pid: number): number {
  let n = 0;
  for (const fd of readdirSync(`/proc/${pid}/fdinfo`)) {
    try {
      n += readFileSync(`/proc/${pid}/fdinfo/${fd}`, "utf8").split("\n").filter((l) => l.startsWith("inotify wd:")).length;
    } catch {
      /* closed meanwhile */
    }
  }
  return n;
}

test("watch roots: only git repositories, never / or the home directory, at most MAX_WATCH_ROOTS", (t) => {
  const dir = tempDir();
  t.after(dir.cleanup);
  const home = join(dir.path, "home");
  mkdirSync(join(home, ".git"), { recursive: true });
  mkdirSync(join(home, "work", "app", ".git"), { recursive: true });
  mkdirSync(join(home, "work", "app", "src"), { recursive: true });
  mkdirSync(join(dir.path, "plain"));
  assert.deepEqual(watchRoot(join(home, "work", "app", "src"), home), { root: join(home, "work", "app") });
  assert.deepEqual(watchRoot(join(home, "work"), home), { refused: `${home} is the home directory` });
  assert.deepEqual(watchRoot(join(dir.path, "plain"), home), { refused: `${join(dir.path, "plain")} is not inside a git repository` });
  assert.deepEqual(watchRoot("/", home), { refused: "/ is not inside a git repository" });

  const repos = Array.from({ length: MAX_WATCH_ROOTS + 2 }, (_, i) => {
    const r = join(dir.path, `r${i}`);
    mkdirSync(join(r, ".git"), { recursive: true });
    return { label: `a${i}`, cwd: r };
  });
  const { roots, refused } = chooseWatchRoots([{ label: "same", cwd: join(home, "work", "app", "src") }, { label: "same2", cwd: join(home, "work", "app") }, ...repos, { label: "slash", cwd: "/" }], home);
  assert.equal(roots.size, MAX_WATCH_ROOTS);
  assert.ok(roots.has(join(home, "work", "app")));
  assert.deepEqual(refused, [
    { label: `a${MAX_WATCH_ROOTS - 1}`, why: `over ${MAX_WATCH_ROOTS} repositories are watched already` },
    { label: `a${MAX_WATCH_ROOTS}`, why: `over ${MAX_WATCH_ROOTS} repositories are watched already` },
    { label: `a${MAX_WATCH_ROOTS + 1}`, why: `over ${MAX_WATCH_ROOTS} repositories are watched already` },
    { label: "slash", why: "/ is not inside a git repository" },
  ]);
});

test("conflicts --watch with an agent whose cwd is /: the file system is not watched, the user is told, Ctrl+C ends it", async (t) => {
  const dir = tempDir();
  t.after(dir.cleanup);
  const env = isolatedEnv(join(dir.path, "home"));
  mkdirSync(join(dir.path, "bin"));
  copyFileSync("/bin/sleep", join(dir.path, "bin", "aider"));
  const agent = spawn(join(dir.path, "bin", "aider"), ["300"], { cwd: "/", stdio: "ignore" });
  t.after(() => agent.kill("SIGKILL"));
  await new Promise((r) => setTimeout(r, 200));
  const watch = new CliProcess(["agents", "conflicts", "--watch", "--interval", "0.3"], { env });
  t.after(() => watch.kill("SIGKILL"));
  await watch.waitFor((o, e) => e.includes(`(pid ${agent.pid}): / is not inside a git repository`), WAIT_MS, "the refusal");
  assert.match(watch.stderr, new RegExp(`^warning: not watching the disk for [^\\n]*\\(pid ${agent.pid}\\): / is not inside a git repository \\(its writes are seen through the bus only\\)$`, "m"));
  await watch.waitForOutput("no conflicts detected");
  // a second refresh warns no more about it
  const shown = watch.stdout.split("every 0.3s").length;
  await watch.waitFor((o) => o.split("every 0.3s").length > shown + 1, WAIT_MS, "two more refreshes");
  assert.equal(watch.stderr.split(`(pid ${agent.pid}): / is not`).length, 2, "warned once");
  assert.ok(inotifyWatches(watch.child.pid!) < 50, `inotify watches: ${inotifyWatches(watch.child.pid!)}`);
  watch.kill("SIGINT");
  assert.equal((await watch.exited).code, 0);
});
