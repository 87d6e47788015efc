import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  Broker,
  BusFrameTooLargeError,
  MAX_CONNECTIONS,
  MAX_FRAME_BYTES,
  MAX_PARTIAL_BYTES,
  Subscription,
  closePublishers,
  encodeMessage,
  publish,
  stopHostedBrokers,
  type BrokerPolicy,
  type BusFrame,
} from "../../src/bus/index.js";
import { CliProcess } from "../helpers/cli.js";
import { isolatedEnv, tempDir } from "../helpers/env.js";
import { lineReader, pybus, rawClient, rawFrame, until, writeAll } from "../helpers/bus-raw.js";

/** A broker on this thread with its own temp dir, stopped after the test. */
async function startBroker(t: TestContext, policy?: Partial<BrokerPolicy>): Promise<{ broker: Broker; path: string; warnings: string[] }> {
  const dir = tempDir();
  const path = join(dir.path, "agents-bus.sock");
  const broker = new Broker(path, { policy });
  const warnings: string[] = [];
  broker.on("warning", (w: string) => warnings.push(w));
  await broker.start();
  t.after(async () => {
    await broker.stop();
    dir.cleanup();
  });
  return { broker, path, warnings };
}

/** A line of exactly `bytes` bytes (newline not counted), valid JSON. */
function lineOf(bytes: number): Buffer {
  const head = '{"agent":"raw:1","topic":"finding","summary":"';
  const tail = '"}';
  return Buffer.from(head + "x".repeat(bytes - head.length - tail.length) + tail + "\n");
}

test("the reference's exact frame limit: a 65,536-byte line is forwarded as is, a 65,537-byte one is dropped with a warning", async (t) => {
  const { broker, path, warnings } = await startBroker(t);
  const sub = await rawClient(path);
  const got = lineReader(sub);
  const pub = await rawClient(path);
  await until(() => broker.stats().subscribers === 2, 5000, "both connections");
  const exact = lineOf(MAX_FRAME_BYTES);
  pub.write(Buffer.concat([exact, lineOf(MAX_FRAME_BYTES + 1), rawFrame("after")]));
  await until(() => got.lines.length >= 2, 10_000, "two frames");
  assert.equal(got.lines[0], exact.toString().slice(0, -1));
  assert.equal(JSON.parse(got.lines[1]!).summary, "after");
  assert.deepEqual(warnings, [`bus: dropped a ${MAX_FRAME_BYTES + 1}-byte frame (limit ${MAX_FRAME_BYTES})`]);
  assert.equal(broker.stats().dropped, 1);
  sub.destroy();
  pub.destroy();
});

test("publish() sends a message of exactly 65,536 bytes and refuses 65,537 before sending", async (t) => {
  const dir = tempDir();
  const path = join(dir.path, "agents-bus.sock");
  t.after(async () => {
    await closePublishers();
    await stopHostedBrokers();
    dir.cleanup();
  });
  const sized = (bytes: number) => {
    const base = { agent: "lib:1", topic: "finding", summary: "", id: "fixed", timestamp: "2026-01-01T00:00:00Z" };
    const empty = encodeMessage(base).length - 1;
    return { ...base, summary: "s".repeat(bytes - empty) };
  };
  const sub = await Subscription.open({ path });
  const it = sub[Symbol.asyncIterator]();
  await publish(sized(MAX_FRAME_BYTES), { path });
  const f = (await it.next()).value as BusFrame;
  assert.equal(f.kind, "message");
  assert.equal(f.kind === "message" && f.raw.length, MAX_FRAME_BYTES);
  await assert.rejects(
    publish(sized(MAX_FRAME_BYTES + 1), { path }),
    (err: unknown) => err instanceof BusFrameTooLargeError && err.message === "message is 65537 bytes; the bus drops frames over 65536 bytes",
  );
  sub.close();
});

test("a reader at 2 ms per frame is never evicted and every frame it misses is counted to it; a reader that takes nothing is evicted", async (t) => {
  // A short queue and eviction time so the test runs in seconds; the policy is the same as with the defaults.
  const { broker, path, warnings } = await startBroker(t, { queueBytes: 128 * 1024, holdBytes: 32 * 1024, lagMs: 300, evictAfterMs: 1500 });
  const fast = await rawClient(path);
  const fastGot = lineReader(fast);
  const wedged = await rawClient(path);
  wedged.pause(); // never reads
  const slow = pybus(["sub", path, "--delay-ms", "2", "--raw"]);
  t.after(() => slow.child.kill("SIGKILL"));
  await slow.waitLine((l) => l === "ready");
  await until(() => broker.stats().subscribers === 3, 5000, "three subscribers");
  const pub = await rawClient(path);
  const n = 600; // 600 KB: more than the kernel buffer and the queue together
  await writeAll(
    pub,
    Array.from({ length: n }, (_, i) => rawFrame(`m${i}`, 1000)),
  );
  await until(() => fastGot.lines.length === n, 30_000, () => `the fast reader to get every frame (has ${fastGot.lines.length})`);
  const account = () => {
    let got = 0;
    let dropped = 0;
    for (const l of slow.lines) {
      if (!l.startsWith("frame ")) continue;
      const m = JSON.parse(l.slice(6)) as { agent: string; topic: string; data: { dropped?: number } };
      if (m.agent === `opensre-bus:${process.pid}` && m.topic === "bus") dropped += m.data.dropped ?? 0;
      else got++;
    }
    return { got, dropped };
  };
  await until(() => account().got + account().dropped === n, 60_000, () => `the slow reader to account for every frame (${JSON.stringify(account())})`);
  const { got, dropped } = account();
  assert.ok(dropped > 0 && got > 0, JSON.stringify({ got, dropped }));
  assert.equal(slow.child.exitCode, null, "the slow reader is still connected");
  assert.equal(slow.lines.some((l) => l.startsWith("got ")), false, "the broker never closed the slow reader");
  await until(() => broker.stats().evicted === 1, 5000, "the wedged reader to be evicted");
  assert.ok(warnings.includes("bus: evicted a subscriber that took nothing for 1.5 s"), warnings.join("\n"));
  assert.equal(broker.stats().subscribers, 3, "fast, slow and the publisher remain");
  pub.destroy();
  fast.destroy();
  wedged.destroy();
});

test("our subscriptions read at 2 ms per frame, frame by frame and in batches of raw frames, lose nothing and are never evicted or stalled", async (t) => {
  // The broker in another process (`agents bus` hosts it), so both subscriptions read it through a socket.
  const dir = tempDir();
  const env = isolatedEnv(dir.path);
  const path = join(dir.path, "agents-bus.sock");
  const host = new CliProcess(["agents", "bus"], { env });
  t.after(async () => {
    host.kill("SIGKILL");
    await stopHostedBrokers();
    dir.cleanup();
  });
  await host.waitForOutput("tailing /agents bus", 20_000);
  const n = 1500; // 1.5 MB: past the subscription's hold mark (1 MiB), so its socket is paused and resumed
  const slow = async (sub: Subscription, batched: boolean) => {
    let got = 0;
    let other = 0;
    const pace = () => new Promise((r) => setTimeout(r, 2));
    if (batched) {
      for await (const fs of sub.batches()) {
        for (const f of fs) {
          if (f.kind === "frame") got++;
          else other++;
          await pace();
        }
        if (got + other >= n) break;
      }
    } else {
      for await (const f of sub) {
        if (f.kind === "message") got++;
        else other++;
        await pace();
        if (got + other >= n) break;
      }
    }
    return { got, other };
  };
  const a = await Subscription.open({ path });
  const b = await Subscription.open({ path, decode: false });
  assert.deepEqual([a.brokerPid, b.brokerPid], [host.child.pid, host.child.pid]);
  const results = Promise.all([slow(a, false), slow(b, true)]);
  const pub = await rawClient(path);
  await writeAll(
    pub,
    Array.from({ length: n }, (_, i) => rawFrame(`m${i}`, 1000)),
  );
  assert.deepEqual(await results, [
    { got: n, other: 0 },
    { got: n, other: 0 },
  ]);
  assert.equal(host.stderr, "", "the broker evicted or dropped nothing");
  pub.destroy();
});

test("a reader that stalls for a moment loses nothing: the broker holds the publisher instead of dropping", async (t) => {
  const { broker, path } = await startBroker(t);
  const a = await rawClient(path);
  const aGot = lineReader(a);
  const b = await rawClient(path);
  const bGot = lineReader(b);
  const pub = await rawClient(path);
  await until(() => broker.stats().subscribers === 3, 5000, "three connections");
  b.pause();
  setTimeout(() => b.resume(), 200);
  const n = 20_000; // 4 MB: far more than the kernel buffer and the hold mark
  await writeAll(pub, Array.from({ length: n }, (_, i) => rawFrame(`m${i}`, 200)));
  await until(() => aGot.lines.length === n && bGot.lines.length === n, 30_000, () => `every frame (${aGot.lines.length}, ${bGot.lines.length})`);
  assert.equal(broker.stats().dropped, 0);
  assert.equal(JSON.parse(bGot.lines[n - 1]!).summary, `m${n - 1}`);
  for (const s of [a, b, pub]) s.destroy();
});

test(`connections are capped at ${MAX_CONNECTIONS}: more are refused with a warning, and the bus keeps serving`, async (t) => {
  const { broker, path, warnings } = await startBroker(t);
  const extra = 10;
  const socks = [];
  for (let i = 0; i < MAX_CONNECTIONS + extra; i++) {
    const s = await rawClient(path);
    s.on("error", () => undefined);
    socks.push(s);
  }
  await until(() => broker.stats().refused >= extra, 10_000, () => `refusals (${broker.stats().refused})`);
  assert.equal(broker.stats().subscribers, MAX_CONNECTIONS);
  assert.equal(warnings[0], `bus: refused a connection: ${MAX_CONNECTIONS} clients already connected`);
  for (const s of socks) s.destroy();
  await until(() => broker.stats().subscribers === 0, 10_000, "every connection to close");
  const sub = await rawClient(path);
  const got = lineReader(sub);
  const pub = await rawClient(path);
  await until(() => broker.stats().subscribers === 2, 5000, "two connections");
  pub.write(rawFrame("still served"));
  await until(() => got.lines.length === 1, 5000, "a frame");
  sub.destroy();
  pub.destroy();
});

test(`unfinished frames are capped at ${MAX_PARTIAL_BYTES} bytes for all clients together`, async (t) => {
  const { broker, path, warnings } = await startBroker(t);
  const holders = [];
  const partial = Buffer.alloc(MAX_FRAME_BYTES - 1, 0x78); // just under one frame, no newline
  const count = Math.ceil(MAX_PARTIAL_BYTES / partial.length) + 20;
  let closed = 0;
  for (let i = 0; i < count; i++) {
    const s = await rawClient(path);
    s.on("error", () => undefined);
    s.on("close", () => closed++);
    s.write(partial);
    holders.push(s);
  }
  await until(() => closed >= 20, 10_000, () => `clients cut (${closed})`);
  assert.ok(closed <= 21, `only what passed the cap is cut (${closed})`);
  assert.ok(warnings.includes(`bus: disconnected a client: unfinished frames of all clients exceed ${MAX_PARTIAL_BYTES} bytes`), warnings.join("\n"));
  assert.ok(broker.stats().refused >= 20);
  // the bus still serves complete frames
  const sub = await rawClient(path);
  const got = lineReader(sub);
  const pub = await rawClient(path);
  await until(() => broker.stats().subscribers === count - closed + 2, 5000, "two more connections");
  pub.write(rawFrame("still served"));
  await until(() => got.lines.length === 1, 5000, "a frame");
  for (const s of [...holders, sub, pub]) s.destroy();
});
