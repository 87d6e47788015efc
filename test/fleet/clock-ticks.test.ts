import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { auxvClockTicks, linuxClockTicks } from "../../src/fleet/procfs.js";

function auxv(pairs: Array<[number, number]>, wordBytes: 4 | 8): Buffer {
  const buf = Buffer.alloc((pairs.length + 1) * 2 * wordBytes);
  pairs.forEach(([type, value], i) => {
    const at = i * 2 * wordBytes;
    if (wordBytes === 8) {
      buf.writeBigUInt64LE(BigInt(type), at);
      buf.writeBigUInt64LE(BigInt(value), at + 8);
    } else {
      buf.writeUInt32LE(type, at);
      buf.writeUInt32LE(value, at + 4);
    }
  });
  return buf; // ends with the zero pair (AT_NULL)
}

test("USER_HZ is read from the auxiliary vector, as sysconf reads it: what `getconf CLK_TCK` prints", { skip: process.platform !== "linux" && "Linux only: /proc and its auxiliary vector" }, () => {
  assert.equal(linuxClockTicks(), Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()));
  // AT_PAGESZ (6), AT_CLKTCK (17), AT_HWCAP (16), in 64- and 32-bit layouts
  assert.equal(auxvClockTicks(auxv([[6, 4096], [16, 0xbfebfbff], [17, 250]], 8), 8), 250);
  assert.equal(auxvClockTicks(auxv([[6, 4096], [17, 1024]], 4), 4), 1024);
  // no AT_CLKTCK before AT_NULL, a truncated vector, an absurd value: unknown (the caller assumes 100)
  assert.equal(auxvClockTicks(auxv([[6, 4096]], 8), 8), undefined);
  assert.equal(auxvClockTicks(Buffer.alloc(0), 8), undefined);
  assert.equal(auxvClockTicks(auxv([[17, 0]], 8), 8), undefined);
  assert.equal(auxvClockTicks(auxv([[17, 1e9]], 8), 8), undefined);
});
