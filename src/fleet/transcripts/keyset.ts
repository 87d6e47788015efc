/**
 * A bounded set of string keys, remembered as 53-bit hashes in two generations of
 * open-addressing tables backed by typed arrays: no per-key objects, so a first load of
 * millions of responses creates no garbage for the collector and memory stays a few MiB.
 * When the young generation fills it becomes the old one and the previous old one is
 * forgotten, so the most recent `capacity`/2 … `capacity` keys are always remembered.
 * A false "seen" needs a 2^-53 hash collision.
 */
export class HashedKeySet {
  private young: Table;
  private old: Table;
  private readonly perGeneration: number;

  constructor(capacity: number) {
    this.perGeneration = Math.max(1, Math.floor(capacity / 2));
    this.young = new Table(this.perGeneration);
    this.old = new Table(this.perGeneration);
  }

  has(key: string): boolean {
    const h = hash53(key);
    return this.young.has(h) || this.old.has(h);
  }

  /** Remembers `key` for `owner` (a small integer, e.g. a file id). */
  add(key: string, owner: number): void {
    const h = hash53(key);
    if (this.young.has(h)) return;
    if (this.young.count >= this.perGeneration) {
      const t = this.old;
      t.clear();
      this.old = this.young;
      this.young = t;
    }
    this.young.insert(h, owner);
  }

  /** Forgets every key added for `owner`. */
  forgetOwner(owner: number): void {
    this.young.removeOwner(owner);
    this.old.removeOwner(owner);
  }

  get size(): number {
    return this.young.count + this.old.count;
  }
}

class Table {
  private readonly hashes: Float64Array;
  private readonly owners: Uint32Array;
  private readonly mask: number;
  count = 0;

  constructor(maxEntries: number) {
    // load factor ≤ 0.5 keeps linear probing short
    let slots = 16;
    while (slots < maxEntries * 2) slots *= 2;
    this.hashes = new Float64Array(slots);
    this.owners = new Uint32Array(slots);
    this.mask = slots - 1;
  }

  has(h: number): boolean {
    for (let i = h % (this.mask + 1); ; i = (i + 1) & this.mask) {
      const v = this.hashes[i]!;
      if (v === 0) return false;
      if (v === h) return true;
    }
  }

  insert(h: number, owner: number): void {
    let i = h % (this.mask + 1);
    while (this.hashes[i] !== 0) {
      if (this.hashes[i] === h) return;
      i = (i + 1) & this.mask;
    }
    this.hashes[i] = h;
    this.owners[i] = owner;
    this.count++;
  }

  clear(): void {
    this.hashes.fill(0);
    this.owners.fill(0);
    this.count = 0;
  }

  /** Rare (a transcript truncated or replaced): rebuild without the owner's keys. */
  removeOwner(owner: number): void {
    const keep: Array<[number, number]> = [];
    let removed = 0;
    for (let i = 0; i <= this.mask; i++) {
      const v = this.hashes[i]!;
      if (v === 0) continue;
      if (this.owners[i] === owner) removed++;
      else keep.push([v, this.owners[i]!]);
    }
    if (removed === 0) return;
    this.clear();
    for (const [h, o] of keep) this.insert(h, o);
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
