import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { BusConnectionError, closePublishers, publish, stopHostedBrokers } from "../../src/bus/index.js";
import { tempDir } from "../helpers/env.js";
import { pybus, until } from "../helpers/bus-raw.js";

/** Keep this thread busy for `ms`: a caller doing its own work, the case where a publisher used to stop draining. */
function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    /* spin */
  }
}

test("through a Python-style broker that stops reading publishers for 300 ms, with the caller busy and another publisher flooding, every publish arrives", async (t) => {
  const dir = tempDir();
  const path = join(dir.path, "agents-bus.sock");
  const broker = pybus(["broker", path, "--stall", "300:600"]);
  t.after(() => broker.child.kill("SIGKILL"));
  await broker.waitLine((l) => l.startsWith("ready "));
  const sub = pybus(["sub", path, "--only", "lib-"]);
  const flood = pybus(["flood", path, "3", "--size", "600", "--rate", "2000"]);
  t.after(async () => {
    for (const p of [sub, flood]) p.child.kill("SIGKILL");
    await closePublishers();
    await stopHostedBrokers();
    dir.cleanup();
  });
  await sub.waitLine((l) => l === "ready");
  const n = 1000;
  let resolved = 0;
  const failures: string[] = [];
  const all: Array<Promise<void>> = [];
  for (let i = 0; i < n; i++) {
    all.push(
      publish({ agent: "lib:1", topic: "finding", summary: `lib-${i}` }, { path }).then(
        () => void resolved++,
        (err: Error) => void failures.push(err.message),
      ),
    );
    if (i % 50 === 49) {
      busy(150); // the broker fans the flood out to our connections meanwhile
      await new Promise((r) => setImmediate(r));
    }
  }
  await Promise.all(all);
  assert.deepEqual(failures, []);
  assert.equal(resolved, n);
  await until(
    () => sub.lines.filter((l) => l.startsWith("msg lib-")).length === n || sub.lines.some((l) => l.startsWith("got ")),
    60_000,
    () => `every frame at the subscriber (${sub.lines.length})`,
  );
  assert.equal(sub.lines.find((l) => l.startsWith("got ")), undefined, "the Python broker did not cut the subscriber off");
  const got = new Set(sub.lines.filter((l) => l.startsWith("msg ")).map((l) => l.slice(4)));
  assert.equal(got.size, n);
});

test("a publish the broker never read is rejected with BusConnectionError when the broker dies; a resolved one was delivered", async (t) => {
  const dir = tempDir();
  const path = join(dir.path, "agents-bus.sock");
  // Reads for a moment, then nothing for 30 s.
  const broker = pybus(["broker", path, "--stall", "30000:200"]);
  t.after(() => broker.child.kill("SIGKILL"));
  const pid = Number((await broker.waitLine((l) => l.startsWith("ready "))).slice(6));
  const sub = pybus(["sub", path, "--only", "lib-"]);
  t.after(async () => {
    sub.child.kill("SIGKILL");
    await closePublishers();
    await stopHostedBrokers();
    dir.cleanup();
  });
  await sub.waitLine((l) => l === "ready");
  await new Promise((r) => setTimeout(r, 400)); // the broker has stopped reading
  const n = 20;
  const outcome: Array<"ok" | string> = [];
  const all = Array.from({ length: n }, (_, i) =>
    publish({ agent: "lib:1", topic: "finding", summary: `lib-${i}`, data: { pad: "p".repeat(2000) } }, { path }).then(
      () => void (outcome[i] = "ok"),
      (err: unknown) => void (outcome[i] = err instanceof BusConnectionError ? err.message : `other: ${(err as Error).message}`),
    ),
  );
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(outcome.filter((o) => o !== undefined).length, 0, "nothing settles while the broker has not read it");
  broker.child.kill("SIGKILL");
  await Promise.all(all);
  const failed = outcome.filter((o) => o !== "ok");
  assert.ok(failed.length >= n - 2, outcome.join(" | "));
  assert.deepEqual([...new Set(failed)], [`bus broker (pid ${pid}) closed the connection before taking the message`]);
  // every publish that resolved reached the subscriber
  const delivered = new Set(sub.lines.filter((l) => l.startsWith("msg ")).map((l) => l.slice(4)));
  for (let i = 0; i < n; i++) if (outcome[i] === "ok") assert.ok(delivered.has(`lib-${i}`), `lib-${i} resolved but was not delivered`);
});
