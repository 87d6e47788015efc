/**
 * Bare bus clients for the bus benchmark: what delivery costs with the client work taken away,
 * so the brokers alone are compared. Raw Unix sockets, no library.
 *
 *   sub <socket>   counts frames (newlines) as they arrive; answers `report` on stdin with `got <n> dropped 0`
 *   pub <socket>   on `go`, sends BUS_PEER_COUNT messages made as `publish()` makes them (a fresh id and
 *                  timestamp, JSON), 64 to a write, waiting for the socket to drain; prints `done ok <n> failed 0`
 *
 * Not a client anyone should use: it keeps none of the library's promises (a publisher cut off loses
 * frames silently, a slow reader's frames pile up in the kernel), which is the point of the comparison.
 */
import { randomUUID } from "node:crypto";
import { connect } from "node:net";
import { createInterface } from "node:readline";

const [mode, path] = process.argv.slice(2);
const n = Number(process.env.BUS_PEER_COUNT ?? "20000");
const out = (s: string) => process.stdout.write(s + "\n");
const socket = connect(path!);
socket.on("error", (err) => {
  out(`closed ${err.message}`);
  process.exit(0);
});
const lines = createInterface({ input: process.stdin });
lines.on("close", () => process.exit(0));

if (mode === "sub") {
  let got = 0;
  socket.on("data", (d: Buffer) => {
    for (let i = d.indexOf(10); i >= 0; i = d.indexOf(10, i + 1)) got++;
  });
  socket.on("connect", () => out(`ready ${process.pid}`));
  lines.on("line", (l) => {
    if (l === "report") out(`got ${got} dropped 0 handovers 0`);
  });
} else {
  socket.on("data", () => undefined); // a broker may send publishers the fan-out too
  socket.on("connect", () => out(`ready ${process.pid}`));
  lines.on("line", async (l) => {
    if (l !== "go") return;
    const agent = `peer:${process.pid}`;
    for (let i = 0; i < n; ) {
      let chunk = "";
      for (let k = 0; k < 64 && i < n; k++, i++) {
        chunk += JSON.stringify({ agent, topic: "finding", summary: `${process.pid}-${i}`, source: "", path: "", data: {}, id: randomUUID(), timestamp: new Date().toISOString(), schema_version: 1 }) + "\n";
      }
      if (!socket.write(chunk)) await new Promise((r) => socket.once("drain", r));
    }
    out(`done ok ${n} failed 0`);
  });
}
