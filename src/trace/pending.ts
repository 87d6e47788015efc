import type { OutputStream } from "../shell/command.js";
import { rawOutput } from "../term/output.js";

/**
 * Output a live view may have queued for a reader that does not keep up (`trace … | less`
 * left at a prompt, a stalled pipe): past this, new output is dropped, counted, and the count
 * shown once the reader catches up. 1 MiB is seconds of a fast trace (a repaint is at most
 * 64 KiB, ten a second) and bounds the memory a stalled reader costs.
 */
export const MAX_PENDING_OUTPUT_BYTES = 1024 * 1024;

/** Bytes written to `stream` (and the stream behind its terminal filter) not yet handed to the OS. */
export function pendingBytes(stream: OutputStream): number {
  const raw = rawOutput(stream);
  return (stream.writableLength ?? 0) + (raw !== stream ? (raw.writableLength ?? 0) : 0);
}

/**
 * Writes that respect a reader's pace: `write` drops (and counts) what would queue past
 * `max`; `dropped()` hands the count over (and resets it) for a notice.
 */
export class PacedOutput {
  private droppedBytes = 0;

  constructor(
    private readonly out: OutputStream,
    private readonly max = MAX_PENDING_OUTPUT_BYTES,
  ) {}

  /** Write `chunk` to `to` (the stream itself, or its raw side) unless the reader is too far behind. */
  write(to: OutputStream, chunk: string | Buffer): boolean {
    if (pendingBytes(this.out) > this.max) {
      this.droppedBytes += typeof chunk === "string" ? Buffer.byteLength(chunk) : chunk.length;
      return false;
    }
    to.write(chunk);
    return true;
  }

  /** Whether the reader has room again (what is queued is under the bound). */
  get hasRoom(): boolean {
    return pendingBytes(this.out) <= this.max;
  }

  /** Bytes dropped since the last call. */
  dropped(): number {
    const n = this.droppedBytes;
    this.droppedBytes = 0;
    return n;
  }
}
