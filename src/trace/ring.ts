/**
 * A byte-bounded FIFO of chunks: pushing past the capacity drops the oldest whole chunks,
 * so what it holds is always the newest output. Used twice: as the bounded hand-off queue
 * between the reader and the view, and as the view's ring buffer.
 */
export class ChunkRing {
  private chunks: Buffer[] = [];
  private head = 0;
  private bytes = 0;
  /** Bytes dropped since creation. */
  droppedBytes = 0;
  /** Largest number of bytes ever held (for tests and benchmarks). */
  peakBytes = 0;

  constructor(readonly capacity: number) {}

  get size(): number {
    return this.bytes;
  }

  push(chunk: Buffer): void {
    if (chunk.length > this.capacity) {
      this.droppedBytes += chunk.length - this.capacity;
      chunk = chunk.subarray(chunk.length - this.capacity);
    }
    this.chunks.push(chunk);
    this.bytes += chunk.length;
    while (this.bytes > this.capacity) {
      const old = this.chunks[this.head]!;
      this.chunks[this.head++] = undefined as unknown as Buffer;
      this.bytes -= old.length;
      this.droppedBytes += old.length;
    }
    if (this.head > 1024 && this.head * 2 > this.chunks.length) {
      this.chunks = this.chunks.slice(this.head);
      this.head = 0;
    }
    if (this.bytes > this.peakBytes) this.peakBytes = this.bytes;
  }

  /** Remove and return everything held, oldest first. */
  drain(): Buffer[] {
    const out = this.chunks.slice(this.head);
    this.chunks = [];
    this.head = 0;
    this.bytes = 0;
    return out;
  }
}
