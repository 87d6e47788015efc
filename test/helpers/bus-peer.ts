/**
 * A bus peer process for multi-process tests, driven over stdin/stdout.
 * Runs only when BUS_PEER_MODE is set (the test runner also loads this file).
 *
 *   BUS_PEER_MODE=sub     prints `ready <pid>` once attached, then `msg <summary>` per message
 *                         (with BUS_PEER_QUIET=1 only counts; `report` prints `got <n> dropped <d> handovers <h>`);
 *                         BUS_PEER_DECODE=0 subscribes to raw frames (`frame <bytes>`), BUS_PEER_ITER=batches
 *                         reads them with `batches()`
 *   BUS_PEER_MODE=pub     publishes `probe` every 50 ms until it reads `go`, then BUS_PEER_COUNT messages
 *                         `<pid>-<i>`, prints `sent`, and waits for end of stdin
 *   BUS_PEER_MODE=burst   on `go`, publishes BUS_PEER_COUNT messages `<pid>-<i>` as fast as publish()
 *                         allows (up to BUS_PEER_INFLIGHT, default 1,000, in flight at once), then prints
 *                         `done ok <n> failed <n>`
 *   BUS_PEER_MODE=stream  publishes `<pid>-<i>` every 5 ms until it reads `stop`, then prints
 *                         `done ok <n> failed <n>`; each failure also prints `error <message>`
 * Every mode answers `report` with `hosting <true|false>` (after its own report line).
 * BUS_PEER_TRAP=1: handles SIGTERM itself (prints `trapped`, exits 7 after 300 ms).
 */
import { createInterface } from "node:readline";
import { publish, Subscription, brokerStats, closePublishers, type BusFrame } from "../../src/bus/index.js";

async function main(mode: string): Promise<void> {
  const path = process.env.BUS_PEER_SOCKET!;
  const quiet = process.env.BUS_PEER_QUIET === "1";
  const lines = createInterface({ input: process.stdin });
  const out = (s: string) => process.stdout.write(s + "\n");
  let probing: NodeJS.Timeout | undefined;
  let streaming = false;
  let ok = 0;
  let failed = 0;
  const counts = { got: 0, dropped: 0, handovers: 0, bytes: 0 };
  const one = (i: number) =>
    publish({ agent: `peer:${process.pid}`, topic: "finding", summary: `${process.pid}-${i}` }, { path }).then(
      () => void ok++,
      (err: Error) => {
        failed++;
        out(`error ${err.message}`);
      },
    );
  lines.on("line", async (line) => {
    if (line === "report") {
      if (mode === "sub") out(`got ${counts.got} dropped ${counts.dropped} handovers ${counts.handovers}`);
      out(`hosting ${brokerStats({ path }) !== null}`);
    }
    if (line === "go" && mode === "pub") {
      clearInterval(probing);
      const n = Number(process.env.BUS_PEER_COUNT ?? "5");
      for (let i = 0; i < n; i++) await publish({ agent: `peer:${process.pid}`, topic: "finding", summary: `${process.pid}-${i}` }, { path });
      out("sent");
    }
    if (line === "go" && mode === "burst") {
      const n = Number(process.env.BUS_PEER_COUNT ?? "5");
      const inflight = Number(process.env.BUS_PEER_INFLIGHT ?? "1000");
      let next = 0;
      const lane = async () => {
        while (next < n) await one(next++);
      };
      await Promise.all(Array.from({ length: Math.min(inflight, n) }, lane));
      await closePublishers();
      out(`done ok ${ok} failed ${failed}`);
    }
    if (line === "stop" && mode === "stream") {
      streaming = false;
    }
  });
  lines.on("close", () => process.exit(0));
  if (process.env.BUS_PEER_TRAP === "1") {
    // A program with its own SIGTERM handling: it decides when to exit.
    process.once("SIGTERM", () => {
      out("trapped");
      setTimeout(() => process.exit(7), 300);
    });
  }
  if (mode === "sub") {
    const decode = process.env.BUS_PEER_DECODE !== "0";
    const sub = await Subscription.open({ path, decode });
    out(`ready ${process.pid}`);
    const take = (f: BusFrame) => {
      if (f.kind === "message") {
        counts.got++;
        if (!quiet) out(`msg ${f.message.summary}`);
      } else if (f.kind === "frame") {
        // What a relay does with a frame: take its bytes as received.
        counts.got++;
        counts.bytes += f.raw.length;
        if (!quiet) out(`frame ${f.raw.toString()}`);
      } else if (f.kind === "dropped") {
        counts.dropped += f.count;
        if (!quiet) out(`dropped ${f.count} by ${f.by}`);
      } else if (f.kind === "handover") {
        counts.handovers++;
        if (!quiet) out(`handover ${f.from} ${f.to}`);
      }
    };
    try {
      if (process.env.BUS_PEER_ITER === "batches") {
        for await (const fs of sub.batches()) for (const f of fs) take(f);
      } else {
        for await (const f of sub) take(f);
      }
    } catch (err) {
      out(`closed ${(err as Error).message}`);
      process.exit(0); // the broker went away: the test is tearing down
    }
  } else if (mode === "pub") {
    const tick = () => void publish({ agent: `peer:${process.pid}`, topic: "probe", summary: "probe" }, { path }).catch((e) => out(`error ${e.message}`));
    tick();
    probing = setInterval(tick, 50);
  } else if (mode === "stream") {
    streaming = true;
    out(`ready ${process.pid}`);
    const pending: Array<Promise<void>> = [];
    for (let i = 0; streaming; i++) {
      pending.push(one(i));
      await new Promise((r) => setTimeout(r, 5));
    }
    await Promise.all(pending);
    out(`done ok ${ok} failed ${failed}`);
  } else if (mode === "burst") {
    out(`ready ${process.pid}`);
  }
}

if (process.env.BUS_PEER_MODE) {
  main(process.env.BUS_PEER_MODE).catch((err) => {
    process.stderr.write(`peer failed: ${(err as Error).stack}\n`);
    process.exit(1);
  });
}
