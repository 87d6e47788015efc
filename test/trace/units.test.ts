import { test } from "node:test";
import assert from "node:assert/strict";
import { AnsiSanitizer } from "../../src/trace/ansi.js";
import { ChunkRing } from "../../src/trace/ring.js";
import { newestUtf8 } from "../../src/trace/session.js";
import { parseLsof } from "../../src/trace/resolve.js";

test("the sanitizer keeps colours and removes every other control sequence, even split across chunks", () => {
  const s = new AnsiSanitizer();
  const input =
    "\x1b[1;31mred\x1b[0m plain\n" + // SGR kept
    "\x1b[2J\x1b[H\x1b[10;5Hmoved\n" + // clear screen, cursor moves: removed
    "\x1b]0;pwned title\x07\x1b]52;c;ZXZpbA==\x1b\\clip\n" + // OSC title, clipboard: removed
    "\x1bPqdcs\x1b\\\x1b_apc\x1b\\\x1b^pm\x1b\\dcs\n" + // DCS, APC, PM: removed
    "bell\x07 back\x08space\x1b7\x1b8\x1b(B keys\n" + // C0 and two-char escapes: removed
    "over\rwrite\r\n"; // a lone CR becomes a newline; CRLF stays one newline
  const expected = "\x1b[1;31mred\x1b[0m plain\nmoved\nclip\ndcs\nbell backspace keys\nover\nwrite\n";
  assert.equal(s.push(input) + s.flush(), expected);
  // the same bytes one character at a time
  const t = new AnsiSanitizer();
  let out = "";
  for (const ch of input) out += t.push(ch);
  assert.equal(out + t.flush(), expected);
  // 8-bit CSI and C1 controls
  assert.equal(new AnsiSanitizer().push("a\u009b2Jb\u0085c\u009d0;x\u009cd"), "abcd");
});

test("the ring buffer drops the oldest whole chunks and never holds more than its capacity", () => {
  const r = new ChunkRing(10);
  r.push(Buffer.from("aaaa"));
  r.push(Buffer.from("bbbb"));
  r.push(Buffer.from("cccc"));
  assert.equal(r.size, 8);
  assert.equal(Buffer.concat(r.drain()).toString(), "bbbbcccc");
  assert.equal(r.droppedBytes, 4);
  r.push(Buffer.from("x".repeat(25)));
  assert.equal(r.size, 10);
  assert.ok(r.peakBytes <= 10);
});

test("the newest bytes are cut on a UTF-8 boundary", () => {
  const buf = Buffer.from("ééé"); // 6 bytes
  assert.equal(newestUtf8(buf, 5).toString(), "éé");
  assert.equal(newestUtf8(buf, 6).toString(), "ééé");
  assert.equal(newestUtf8(Buffer.from("a€b"), 3).toString(), "b");
});

test("lsof -F ftn output is read for the right descriptor (macOS resolver)", () => {
  const out = "p8421\nfcwd\ntDIR\nn/Users/dev/shop\nf1\ntREG\nn/Users/dev/.claude/log\nf2\ntCHR\nn/dev/ttys003\n";
  assert.deepEqual(parseLsof(out, 1), { type: "REG", name: "/Users/dev/.claude/log" });
  assert.deepEqual(parseLsof(out, 2), { type: "CHR", name: "/dev/ttys003" });
  assert.equal(parseLsof("p1\nf0\ntCHR\nn/dev/null\n", 1), undefined);
});
