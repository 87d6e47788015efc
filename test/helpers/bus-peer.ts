/**
 * A bus peer process for multi-process tests, driven over stdin/stdout.
 * Runs only when BUS_PEER_MODE is set (the test runner also loads this file).
 *
 *   BUS_PEER_MODE=sub  prints `ready <pid>` once attached, then `msg <summary>` per message
 *   BUS_PEER_MODE=pub  publishes `probe` every 50 ms until it reads `go`, then BUS_PEER_COUNT messages
 *                      `<pid>-<i>`, prints `sent`, and waits for end of stdin
 * Both answer `report` with `hosting <true|false>`.
 */
import { createInterface } from "node:readline";
import { publish, Subscription, brokerStats } from "../../src/index.js";

async function main(mode: string): Promise<void> {
  const path = process.env.BUS_PEER_SOCKET!;
  const lines = createInterface({ input: process.stdin });
  const out = (s: string) => process.stdout.write(s + "\n");
  let probing: NodeJS.Timeout | undefined;
  lines.on("line", async (line) => {
    if (line === "report") out(`hosting ${brokerStats({ path }) !== null}`);
    if (line === "go" && mode === "pub") {
      clearInterval(probing);
      const n = Number(process.env.BUS_PEER_COUNT ?? "5");
      for (let i = 0; i < n; i++) await publish({ agent: `peer:${process.pid}`, topic: "finding", summary: `${process.pid}-${i}` }, { path });
      out("sent");
    }
  });
  lines.on("close", () => process.exit(0));
  if (mode === "sub") {
    const sub = await Subscription.open({ path });
    out(`ready ${process.pid}`);
    try {
      for await (const f of sub) if (f.message) out(`msg ${f.message.summary}`);
    } catch {
      process.exit(0); // the broker went away: the test is tearing down
    }
  } else {
    const tick = () => void publish({ agent: `peer:${process.pid}`, topic: "probe", summary: "probe" }, { path }).catch((e) => out(`error ${e.message}`));
    tick();
    probing = setInterval(tick, 50);
  }
}

if (process.env.BUS_PEER_MODE) {
  main(process.env.BUS_PEER_MODE).catch((err) => {
    process.stderr.write(`peer failed: ${(err as Error).stack}\n`);
    process.exit(1);
  });
}
