/**
 * Parse a number the way Python's `float()` reads one (the Python OpenSRE tool takes the
 * same input): decimal or exponent form, `_` between digits, surrounding spaces, and
 * `nan` / `inf` / `infinity` in any case with an optional sign. Returns undefined for
 * anything else, so callers can tell "not a number" from "a number out of range".
 */
const DECIMAL = /^[+-]?((\d(_?\d)*)?\.\d(_?\d)*|\d(_?\d)*\.?)([eE][+-]?\d(_?\d)*)?$/;
const SPECIAL = /^[+-]?(nan|inf|infinity)$/i;

export function parseFloatLike(raw: string): number | undefined {
  const s = raw.trim();
  if (SPECIAL.test(s)) {
    const neg = s.startsWith("-");
    if (/nan/i.test(s)) return NaN;
    return neg ? -Infinity : Infinity;
  }
  if (!DECIMAL.test(s)) return undefined;
  return Number(s.replace(/_/g, ""));
}
