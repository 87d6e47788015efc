import type { CountRecord, ParsedSlice } from "./parse.js";

/**
 * A parsed slice as it crosses from a worker thread to the main one: the records packed
 * into one Float64Array (transferred, not copied) and model names in a small table, so a
 * million records cost one buffer instead of a million cloned objects.
 */
export interface PackedSlice extends Omit<ParsedSlice, "records" | "warm"> {
  records: Float64Array;
  warm: Float64Array;
  models: string[];
}

/** Doubles per record: kind, t, key, model index (-1 = none), six token counts, reported cost (NaN = none) or turn ms. */
const STRIDE = 11;
const REQ = 0;
const ERR = 1;
const TURN = 2;

function pack(records: readonly CountRecord[], models: Map<string, number>, names: string[]): Float64Array {
  const out = new Float64Array(records.length * STRIDE);
  const modelIndex = (m: string | null) => {
    if (m === null) return -1;
    let i = models.get(m);
    if (i === undefined) {
      i = names.length;
      names.push(m);
      models.set(m, i);
    }
    return i;
  };
  let o = 0;
  for (const r of records) {
    out[o + 1] = r.t;
    out[o + 3] = modelIndex(r.model);
    if (r.k === "req") {
      out[o] = REQ;
      out[o + 2] = r.key;
      const u = r.usage;
      out[o + 4] = u.input;
      out[o + 5] = u.output;
      out[o + 6] = u.reasoning;
      out[o + 7] = u.cacheWrite5m;
      out[o + 8] = u.cacheWrite1h;
      out[o + 9] = u.cacheRead;
      out[o + 10] = r.reportedUsd ?? NaN;
    } else if (r.k === "err") {
      out[o] = ERR;
      out[o + 2] = r.key;
    } else {
      out[o] = TURN;
      out[o + 10] = r.ms;
    }
    o += STRIDE;
  }
  return out;
}

function unpack(a: Float64Array, names: readonly string[]): CountRecord[] {
  const out: CountRecord[] = new Array(a.length / STRIDE);
  for (let i = 0, o = 0; o < a.length; i++, o += STRIDE) {
    const t = a[o + 1]!;
    const mi = a[o + 3]!;
    const model = mi < 0 ? null : names[mi]!;
    const kind = a[o]!;
    if (kind === REQ) {
      const usd = a[o + 10]!;
      out[i] = {
        k: "req",
        t,
        key: a[o + 2]!,
        model,
        usage: { input: a[o + 4]!, output: a[o + 5]!, reasoning: a[o + 6]!, cacheWrite5m: a[o + 7]!, cacheWrite1h: a[o + 8]!, cacheRead: a[o + 9]! },
        reportedUsd: Number.isNaN(usd) ? null : usd,
      };
    } else if (kind === ERR) out[i] = { k: "err", t, key: a[o + 2]!, model };
    else out[i] = { k: "turn", t, ms: a[o + 10]!, model };
  }
  return out;
}

export function packSlice(s: ParsedSlice): PackedSlice {
  const models = new Map<string, number>();
  const names: string[] = [];
  const { records, warm, ...rest } = s;
  return { ...rest, records: pack(records, models, names), warm: pack(warm, models, names), models: names };
}

export function unpackSlice(p: PackedSlice): ParsedSlice {
  const { records, warm, models, ...rest } = p;
  return { ...rest, records: unpack(records, models), warm: unpack(warm, models) };
}
