import { execFileSync } from "node:child_process";
import { closeSync, mkdirSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * One large Claude transcript written in the last two hours (BENCH_RECENT_MB, default 734): every
 * event is inside the live view's retention, so this is the worst case for what the store keeps.
 * Lines are shaped like Claude Code's: user prompts, tool results with long outputs, assistant
 * lines with text and usage, a response split over two lines. Reports the first load and the
 * peak RSS of the ingesting process, against reading + JSON.parse of the same bytes.
 */
const here = dirname(fileURLToPath(import.meta.url));
const out = (s: string) => process.stdout.write(s + "\n");

export default async function ingestRecent(): Promise<void> {
  const mb = Number(process.env.BENCH_RECENT_MB ?? "734");
  const root = mkdtempSync(join(tmpdir(), "osre-bench-recent-"));
  try {
    const project = join(root, "claude", "projects", "-home-dev-shop");
    mkdirSync(project, { recursive: true });
    const path = join(project, "5f0c2a9e-8d1b-4c3a-9e7f-1a2b3c4d5e6f.jsonl");
    const fd = openSync(path, "w");
    const target = mb * 1024 * 1024;
    const start = Date.now() - 2 * 3600_000 + 60_000;
    const filler = (n: number, seed: number) => {
      let s = "";
      while (s.length < n) s += `line ${seed} of the tool output: some/path/file${seed % 97}.ts:${seed % 1000} ok\n`;
      return s.slice(0, n);
    };
    let size = 0;
    let j = 0;
    let chunk = "";
    const base = { parentUuid: null, isSidechain: false, userType: "external", cwd: "/home/dev/shop", sessionId: "5f0c2a9e-8d1b-4c3a-9e7f-1a2b3c4d5e6f", version: "2.1.332", gitBranch: "main" };
    while (size < target) {
      const ts = new Date(start + (size / target) * (2 * 3600_000 - 120_000)).toISOString();
      const lines = [
        { ...base, type: "user", timestamp: ts, uuid: `u${j}`, message: { role: "user", content: `please look at module ${j} and ${filler(400, j)}` } },
        { ...base, type: "assistant", timestamp: ts, uuid: `a${j}`, requestId: `req_${j}`, message: { id: `msg_${j}`, type: "message", role: "assistant", model: "claude-sonnet-4-5-20250929", content: [{ type: "tool_use", id: `toolu_${j}`, name: "Bash", input: { command: `npm test -- module${j}` } }], stop_reason: "tool_use", usage: { input_tokens: 12, cache_creation_input_tokens: 400, cache_read_input_tokens: 18000, output_tokens: 10 } } },
        { ...base, type: "assistant", timestamp: ts, uuid: `b${j}`, requestId: `req_${j}`, message: { id: `msg_${j}`, type: "message", role: "assistant", model: "claude-sonnet-4-5-20250929", content: [{ type: "text", text: filler(1500, j + 1) }], stop_reason: "tool_use", usage: { input_tokens: 12, cache_creation_input_tokens: 400, cache_read_input_tokens: 18000, output_tokens: 310 } } },
        { ...base, type: "user", timestamp: ts, uuid: `r${j}`, message: { role: "user", content: [{ type: "tool_result", tool_use_id: `toolu_${j}`, content: filler(6000, j + 2), is_error: j % 50 === 0 }] }, toolUseResult: { stdout: filler(6000, j + 2), stderr: "", interrupted: false } },
      ];
      for (const l of lines) {
        const text = JSON.stringify(l) + "\n";
        chunk += text;
        size += Buffer.byteLength(text);
      }
      j++;
      if (chunk.length > 1 << 22) {
        writeSync(fd, chunk);
        chunk = "";
      }
    }
    writeSync(fd, chunk);
    closeSync(fd);
    const totalMb = size / (1024 * 1024);
    // baseline: read the same bytes and JSON.parse every line, in this process
    const b0 = performance.now();
    const buf = Buffer.allocUnsafe(1 << 20);
    const rfd = openSync(path, "r");
    let rest = "";
    for (;;) {
      const n = readSync(rfd, buf, 0, buf.length, null);
      if (n === 0) break;
      const text = rest + buf.toString("utf8", 0, n);
      const parts = text.split("\n");
      rest = parts.pop()!;
      for (const l of parts) JSON.parse(l);
    }
    closeSync(rfd);
    const baseS = (performance.now() - b0) / 1000;
    const child = execFileSync(process.execPath, [join(here, "ingest-recent.child.js"), join(root, "claude"), join(root, "nohome")], { encoding: "utf8", maxBuffer: 1 << 20 });
    const r = JSON.parse(child.trim().split("\n").pop()!) as { firstS: number; events: number; requests: number; keyBytes: number; idleRssMiB: number; peakRssMiB: number; heapMiB: number };
    out(`ingest of one ${totalMb.toFixed(0)} MB Claude transcript written in the last two hours (${j} turns, ${r.requests} responses, ${r.events} events kept for the live view):`);
    out(`  first load ${r.firstS.toFixed(1)} s = ${(totalMb / r.firstS).toFixed(0)} MB/s; baseline read + JSON.parse ${baseS.toFixed(1)} s = ${(totalMb / baseS).toFixed(0)} MB/s`);
    out(`  peak RSS of the ingesting process: ${r.peakRssMiB.toFixed(0)} MiB (Node floor ${r.idleRssMiB.toFixed(0)} MiB; heap after load ${r.heapMiB.toFixed(0)} MiB; response keys ${(r.keyBytes / 1048576).toFixed(1)} MiB); target < 200 MiB`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
