/** Raw bus clients for tests: a bare Unix socket speaking JSON Lines, no library in between. */
import { spawn, type ChildProcess } from "node:child_process";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { REPO_ROOT } from "./env.js";

export const PYBUS = join(REPO_ROOT, "test", "helpers", "pybus.py");

export function rawClient(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(path, () => {
      s.off("error", reject);
      resolve(s);
    });
    s.once("error", reject);
  });
}

/** One frame: `{"agent":…,"summary":"<summary>",…}` padded with `data.pad` to about `size` bytes, newline included. */
export function rawFrame(summary: string, size = 200): Buffer {
  const head = { agent: "raw:1", topic: "finding", summary, source: "", path: "", data: { pad: "" }, id: `id-${summary}`, timestamp: "2026-01-01T00:00:00Z", schema_version: 1 };
  const base = JSON.stringify(head).length + 1;
  head.data.pad = "x".repeat(Math.max(0, size - base));
  return Buffer.from(JSON.stringify(head) + "\n");
}

/** Write every buffer, waiting for the socket to drain when it asks to. */
export async function writeAll(s: Socket, bufs: Buffer[]): Promise<void> {
  for (const b of bufs) if (!s.write(b)) await new Promise((r) => s.once("drain", r));
}

/** Lines received on a socket (without newlines), as they arrive. */
export function lineReader(s: Socket): { lines: string[]; ended: Promise<void> } {
  const lines: string[] = [];
  let partial = "";
  s.setEncoding("utf8");
  s.on("data", (d: string) => {
    const text = partial + d;
    const parts = text.split("\n");
    partial = parts.pop()!;
    for (const p of parts) if (p) lines.push(p);
  });
  const ended = new Promise<void>((r) => s.on("close", () => r()));
  return { lines, ended };
}

export async function until(pred: () => boolean, timeoutMs: number, what: string | (() => string)): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${typeof what === "string" ? what : what()}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A `pybus.py` process (see that file); `lines` collects its stdout. */
export function pybus(args: string[], env?: NodeJS.ProcessEnv): { child: ChildProcess; lines: string[]; waitLine: (pred: (l: string) => boolean, timeoutMs?: number) => Promise<string> } {
  const child = spawn("python3", [PYBUS, ...args], { env: env ?? process.env, stdio: ["ignore", "pipe", "inherit"] });
  const lines: string[] = [];
  createInterface({ input: child.stdout! }).on("line", (l) => lines.push(l));
  const waitLine = async (pred: (l: string) => boolean, timeoutMs = 60_000) => {
    await until(() => lines.some(pred), timeoutMs, () => `a line from pybus ${args[0]} (saw ${lines.slice(-3).join(" | ")})`);
    return lines.find(pred)!;
  };
  return { child, lines, waitLine };
}
