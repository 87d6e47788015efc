import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import {
  Subscription,
  brokerStats,
  closePublishers,
  ensureBroker,
  onBrokerWarning,
  publish,
  stopHostedBrokers,
  noticeFrame,
  type BusFrame,
} from "../../src/bus/index.js";
import { tempDir, WAIT_MS } from "../helpers/env.js";

function rawClient(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(path, () => resolve(s));
    s.once("error", reject);
  });
}

/** Read `n` frames from a subscription without ending it (breaking out of for-await would close it). */
async function collect(sub: Subscription, n: number, timeoutMs = WAIT_MS): Promise<BusFrame[]> {
  const it = (iterators.get(sub) ?? iterators.set(sub, sub[Symbol.asyncIterator]()).get(sub))!;
  const got: BusFrame[] = [];
  const timer = setTimeout(() => sub.close(), timeoutMs);
  while (got.length < n) {
    const r = await it.next();
    if (r.done) break;
    got.push(r.value);
  }
  clearTimeout(timer);
  return got;
}
const iterators = new Map<Subscription, AsyncIterator<BusFrame>>();

test("in one process: the elector hosts the broker, files are 0600, subscribers receive, senders get no echo", async (t) => {
  const dir = tempDir();
  const home = join(dir.path, "home");
  const path = join(home, "agents-bus.sock");
  t.after(async () => {
    await closePublishers();
    await stopHostedBrokers();
    dir.cleanup();
  });
  const sub = await Subscription.open({ path });
  assert.equal(statSync(home).mode & 0o777, 0o700);
  assert.equal(statSync(path).mode & 0o777, 0o600);
  assert.equal(statSync(path + ".pid").mode & 0o777, 0o600);
  assert.equal(readFileSync(path + ".pid", "utf8"), String(process.pid));
  assert.notEqual(brokerStats({ path }), null);

  const sender = await rawClient(path);
  const echoed: string[] = [];
  sender.setEncoding("utf8").on("data", (d: string) => echoed.push(d));
  sender.write('{"agent":"raw:1","topic":"finding","summary":"from raw"}\n');
  // once the raw sender's frame has come through, the broker has accepted that connection, so the library's
  // frame below is fanned out to it too (before that, the broker may not have accepted it yet)
  const [fromRaw] = await collect(sub, 1);
  assert.equal(fromRaw?.message?.summary, "from raw");
  await publish({ agent: "lib:2", topic: "finding", summary: "from lib", path: "a.py:1" }, { path });
  const [fromLib] = await collect(sub, 1);
  assert.equal(fromLib?.message?.summary, "from lib");
  // the raw sender sees the library's frame but never its own
  const deadline = Date.now() + 10_000;
  while (!echoed.join("").includes("from lib") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.equal(echoed.join("").includes("from lib"), true);
  assert.equal(echoed.join("").includes("from raw"), false);
  sender.destroy();

  await stopHostedBrokers();
  assert.equal(existsSync(path), false, "socket removed on stop");
  assert.equal(existsSync(path + ".pid"), false, "sidecar removed on stop");
});

test("oversized, unterminated, non-JSON and array frames: the broker keeps serving and subscribers skip with a warning", async (t) => {
  const dir = tempDir();
  const path = join(dir.path, "agents-bus.sock");
  const warnings: string[] = [];
  onBrokerWarning((w) => warnings.push(w));
  t.after(async () => {
    onBrokerWarning(() => undefined);
    await stopHostedBrokers();
    dir.cleanup();
  });
  await ensureBroker(path);
  const sub = await Subscription.open({ path });
  const bad = await rawClient(path);
  const oversized = `{"agent":"a:1","topic":"finding","summary":"${"x".repeat(70 * 1024)}"}\n`;
  bad.write(oversized);
  bad.write("this is not json\n");
  bad.write("[1,2,3]\n");
  bad.write('{"agent":"a:1","topic":"finding","summary":"still served"}\n');
  const frames = await collect(sub, 3);
  assert.deepEqual(
    frames.map((f) => (f.message ? `ok ${f.message.summary}` : `bad ${f.error!.message}`)),
    ["bad frame is not valid JSON (unexpected character)", "bad frame is not a JSON object (got an array)", "ok still served"],
  );
  assert.deepEqual(warnings, [`bus: dropped a ${Buffer.byteLength(oversized) - 1}-byte frame (limit 65536)`]);

  // A client that streams past 256 KiB without a newline is disconnected; the others are unaffected.
  const closed = new Promise<void>((r) => bad.on("close", () => r()));
  bad.on("error", () => undefined);
  bad.write(Buffer.alloc(300 * 1024, 0x61));
  await closed;
  assert.match(warnings[1]!, /^bus: disconnected a client that sent \d+ bytes without a newline \(limit 262144\)$/);
  await publish({ agent: "lib:1", topic: "finding", summary: "after the bad client" }, { path });
  const after = await collect(sub, 1);
  assert.equal(after[0]!.message?.summary, "after the bad client");
  sub.close();
  await closePublishers();
});

/** Read `n` frames through `batches()`, checking each array holds 1 to `max` frames. */
async function collectBatches(sub: Subscription, n: number, max: number, timeoutMs = 10_000): Promise<BusFrame[]> {
  const got: BusFrame[] = [];
  const timer = setTimeout(() => sub.close(), timeoutMs);
  const it = sub.batches(max);
  while (got.length < n) {
    const r = await it.next();
    if (r.done) break;
    assert.ok(r.value.length >= 1 && r.value.length <= max, `a batch of ${r.value.length}`);
    got.push(...r.value);
  }
  clearTimeout(timer);
  return got;
}

test("a burst of mixed frames decodes frame by frame: ASCII, unicode, invalid UTF-8, 60 KB and bad frames side by side; a raw subscription read in batches gets every frame's bytes as received", async (t) => {
  const dir = tempDir();
  const path = join(dir.path, "agents-bus.sock");
  t.after(async () => {
    await stopHostedBrokers();
    dir.cleanup();
  });
  const sub = await Subscription.open({ path });
  const rawSub = await Subscription.open({ path, decode: false });
  assert.equal(rawSub.brokerPid, process.pid);
  const sender = await rawClient(path);
  const frame = (summary: string) => Buffer.from(JSON.stringify({ agent: "raw:1", topic: "finding", summary }) + "\n");
  const parts: Buffer[] = [];
  const expect: Array<{ kind: string; summary?: string; raw: Buffer }> = [];
  for (let i = 0; i < 400; i++) {
    let b: Buffer;
    let summary: string | undefined;
    if (i % 97 === 5) {
      summary = "big-" + i + "x".repeat(60_000);
      b = frame(summary);
    } else if (i % 13 === 3) {
      summary = `ünïcødé ${i} — 日本 🚀`;
      b = frame(summary);
    } else if (i % 17 === 4) {
      // invalid UTF-8 inside a string: decoded as U+FFFD, the raw bytes kept
      b = Buffer.concat([Buffer.from(`{"agent":"raw:1","topic":"finding","summary":"bad-${i}-`), Buffer.from([0xe2, 0x82]), Buffer.from('"}\n')]);
      summary = `bad-${i}-\ufffd`;
    } else if (i % 19 === 6) {
      b = Buffer.from(`[${i}]\n`);
    } else if (i === 200) {
      // A notice in the broker's name (a peer can forge one): both modes recognise it.
      b = noticeFrame(process.pid, { event: "dropped", dropped: 7 });
    } else {
      summary = `plain-${i}`;
      b = frame(summary);
    }
    parts.push(b);
    expect.push({ kind: i === 200 ? "dropped" : summary === undefined ? "bad" : "message", summary, raw: b.subarray(0, b.length - 1) });
  }
  // In pieces that end mid-frame, so unfinished frames are held across reads.
  const all = Buffer.concat(parts);
  for (let at = 0; at < all.length; at += 50_003) sender.write(all.subarray(at, at + 50_003));
  const [got, raw] = await Promise.all([collect(sub, expect.length, 20_000), collectBatches(rawSub, expect.length, 32, 20_000)]);
  sender.destroy();
  assert.equal(got.length, expect.length);
  got.forEach((f, i) => {
    assert.equal(f.kind, expect[i]!.kind, `frame ${i}`);
    assert.equal(f.message?.summary, expect[i]!.summary, `frame ${i}`);
    assert.ok(f.kind === "message" || f.kind === "bad" || f.kind === "dropped");
    assert.equal(Buffer.compare(f.raw!, expect[i]!.raw), 0, `raw bytes of frame ${i}`);
  });
  assert.equal(raw.length, expect.length);
  raw.forEach((f, i) => {
    // Not decoded: bad frames are frames too; the notice is still recognised.
    assert.equal(f.kind, i === 200 ? "dropped" : "frame", `raw frame ${i}`);
    if (f.kind === "dropped") assert.deepEqual([f.count, f.by], [7, "broker"]);
    assert.equal(f.message, undefined);
    assert.equal(Buffer.compare(f.raw!, expect[i]!.raw), 0, `raw bytes of raw frame ${i}`);
  });
  const d = got[200]!;
  assert.ok(d.kind === "dropped" && d.count === 7 && d.by === "broker");
  rawSub.close();
});
