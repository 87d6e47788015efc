/**
 * The exact set of response keys seen, remembered as 53-bit hashes in one open-addressing
 * table backed by typed arrays: no per-key objects, so a first load of millions of responses
 * creates no garbage for the collector. Nothing is ever evicted, so a resumed or forked
 * session that replays responses first seen long before is recognised however far back they
 * are (no de-duplication cliff). The bound is stated per key instead: 12 bytes per slot at a
 * load factor between 1/4 and 1/2, i.e. 24–48 bytes per distinct response read (a 1 GB
 * Claude transcript tree holds about 1.5 million responses: ≤ 72 MiB, typically half).
 * A false "seen" needs a 2^-53 hash collision.
 */
export class HashedKeySet {
  private hashes: Float64Array;
  private owners: Uint32Array;
  private mask: number;
  private count = 0;

  constructor(initialCapacity = 1024) {
    let slots = 16;
    while (slots < initialCapacity * 2) slots *= 2;
    this.hashes = new Float64Array(slots);
    this.owners = new Uint32Array(slots);
    this.mask = slots - 1;
  }

  has(key: string): boolean {
    return this.hasHash(hash53(key));
  }

  /** Remembers `key` for `owner` (a small integer, e.g. a file id). False when it was already there. */
  add(key: string, owner: number): boolean {
    const h = hash53(key);
    if (this.hasHash(h)) return false;
    if ((this.count + 1) * 2 > this.mask + 1) this.resize((this.mask + 1) * 2);
    this.insert(h, owner);
    return true;
  }

  /** Forgets every key added for `owner` (rare: a transcript truncated, replaced or deleted). */
  forgetOwner(owner: number): void {
    let removed = 0;
    for (let i = 0; i <= this.mask; i++) if (this.hashes[i] !== 0 && this.owners[i] === owner) removed++;
    if (removed === 0) return;
    const oldH = this.hashes;
    const oldO = this.owners;
    this.hashes = new Float64Array(oldH.length);
    this.owners = new Uint32Array(oldO.length);
    this.count = 0;
    for (let i = 0; i < oldH.length; i++) if (oldH[i] !== 0 && oldO[i] !== owner) this.insert(oldH[i]!, oldO[i]!);
  }

  get size(): number {
    return this.count;
  }

  /** Bytes held by the table (benchmarks, tests). */
  get bytes(): number {
    return this.hashes.byteLength + this.owners.byteLength;
  }

  private hasHash(h: number): boolean {
    for (let i = h % (this.mask + 1); ; i = (i + 1) & this.mask) {
      const v = this.hashes[i]!;
      if (v === 0) return false;
      if (v === h) return true;
    }
  }

  private insert(h: number, owner: number): void {
    let i = h % (this.mask + 1);
    while (this.hashes[i] !== 0) i = (i + 1) & this.mask;
    this.hashes[i] = h;
    this.owners[i] = owner;
    this.count++;
  }

  private resize(slots: number): void {
    const oldH = this.hashes;
    const oldO = this.owners;
    this.hashes = new Float64Array(slots);
    this.owners = new Uint32Array(slots);
    this.mask = slots - 1;
    this.count = 0;
    for (let i = 0; i < oldH.length; i++) if (oldH[i] !== 0) this.insert(oldH[i]!, oldO[i]!);
  }
}

/** cyrb53: a fast, well-distributed 53-bit string hash (public domain, by bryc). Never 0. */
export function hash53(str: string): number {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < str.length; i++) {
    const ch = str.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0) || 1;
}
