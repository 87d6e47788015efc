import { Writable } from "node:stream";
import type { OutputStream } from "../shell/command.js";
import { TerminalFilter } from "./sanitize.js";

/**
 * The one way out to a terminal. Commands receive their stdout and stderr wrapped by
 * `guardOutput`: every string they write passes the terminal filter (colours pass; every
 * other control sequence is removed), so a view that forgets to escape a field from
 * outside still cannot let it drive the terminal. What must reach the stream unchanged —
 * `trace --raw`, frames `--json` as received, a full-screen view drawing its own cursor
 * movement — goes to `rawOutput(stream)` explicitly, and escapes its fields itself.
 *
 * The wrapper forwards synchronously (order and the target's back-pressure are kept) and
 * reflects the target's `isTTY`, `columns` and `rows`, and its `resize` events.
 */
class GuardedOutput extends Writable implements OutputStream {
  private readonly filter = new TerminalFilter();
  private readonly decoder = new TextDecoder("utf-8");

  constructor(readonly target: OutputStream) {
    super({ decodeStrings: false, highWaterMark: 64 * 1024 });
    target.on?.("resize", () => this.emit("resize"));
  }

  get isTTY(): boolean | undefined {
    return this.target.isTTY;
  }

  get columns(): number | undefined {
    return this.target.columns;
  }

  get rows(): number | undefined {
    return this.target.rows;
  }

  override _write(chunk: unknown, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    const text = typeof chunk === "string" ? chunk : this.decoder.decode(chunk as Uint8Array, { stream: true });
    const clean = this.filter.push(text);
    if (clean === "") {
      cb();
      return;
    }
    if (this.target.write(clean)) cb();
    else this.target.once("drain", () => cb());
  }

  override _final(cb: (err?: Error | null) => void): void {
    const rest = this.filter.flush();
    if (rest) this.target.write(rest);
    cb();
  }
}

const RAW = new WeakMap<object, OutputStream>();

/** `stream` behind the terminal filter (idempotent). */
export function guardOutput(stream: OutputStream): OutputStream {
  if (stream instanceof GuardedOutput) return stream;
  const g = new GuardedOutput(stream);
  RAW.set(g, stream);
  return g;
}

/** The unfiltered stream behind a guarded one (or the stream itself). */
export function rawOutput(stream: OutputStream): OutputStream {
  return RAW.get(stream) ?? stream;
}

/** Resolves once everything written to `stream` (and to the stream behind it) has been handed to the OS. */
export function flushOutput(stream: OutputStream): Promise<void> {
  return new Promise((resolve) => {
    stream.write("", () => {
      const raw = rawOutput(stream);
      if (raw === stream) resolve();
      else raw.write("", () => resolve());
    });
  });
}
