import { test } from "node:test";
import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { escapeText, safeJson, sanitizeTerminal, TerminalFilter } from "../../src/term/sanitize.js";
import { flushOutput, guardOutput, rawOutput } from "../../src/term/output.js";

/** Hostile strings an agent can put into a name, a path, a prompt or its output. */
export const HOSTILE = [
  "\x1b]52;c;ZWNobyBwd25lZA==\x07", // OSC 52 clipboard write
  "\x1b]0;owned\x07", // window title
  "\x1b[2J\x1b[H", // clear screen, cursor home
  "\x1bc", // full reset
  "\u009b2J", // C1 CSI
  "\u009d0;t\u009c", // C1 OSC
  "\u202eevil\u202c", // bidi override
  "\u2066iso\u2069", // bidi isolate
  "\x1b[8mhidden\x1b[0m", // SGR conceal
];

test("escapeText shows every control visibly and keeps other text", () => {
  assert.equal(escapeText("claude-code"), "claude-code");
  assert.equal(escapeText("naïve 日本 🙂"), "naïve 日本 🙂");
  assert.equal(escapeText("a\x1b]0;t\x07b"), "a\\x1b]0;t\\x07b");
  assert.equal(escapeText("\u009b2J"), "\\x9b2J");
  assert.equal(escapeText("x\u202ey"), "x\\u202ey");
  assert.equal(escapeText("a\nb\tc"), "a\\x0ab\\x09c");
  assert.equal(escapeText("a\nb\tc\x1b", { multiline: true }), "a\nb\tc\\x1b");
  for (const h of HOSTILE) assert.doesNotMatch(escapeText(h), /[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/);
});

test("the filter keeps colours, drops every other sequence and conceal, and escapes bidi controls", () => {
  assert.equal(sanitizeTerminal("\x1b[31mred\x1b[0m"), "\x1b[31mred\x1b[0m");
  assert.equal(sanitizeTerminal("\x1b[38;5;8mgrey\x1b[m"), "\x1b[38;5;8mgrey\x1b[m");
  assert.equal(sanitizeTerminal("\x1b[8mhidden\x1b[0m"), "hidden\x1b[0m");
  assert.equal(sanitizeTerminal("\x1b[1;8;31mx"), "\x1b[1;31mx");
  assert.equal(sanitizeTerminal("a\x1b]52;c;AAAA\x07b"), "ab");
  assert.equal(sanitizeTerminal("a\x1b[2Jb\x1bcc"), "abc");
  assert.equal(sanitizeTerminal("a\u009b2Jb"), "ab");
  assert.equal(sanitizeTerminal("x\u202ey"), "x\\u202ey");
  assert.equal(sanitizeTerminal("over\rwrite"), "over\nwrite");
  assert.equal(sanitizeTerminal("crlf\r\nok"), "crlf\nok");
  for (const h of HOSTILE) assert.doesNotMatch(sanitizeTerminal(h), /\x1b(?!\[[0-9;]*m)|[\x00-\x08\x0b-\x1a\x1c-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/);
});

test("an unterminated OSC swallows at most the rest of its line", () => {
  assert.equal(sanitizeTerminal("a\x1b]0;never ends\nvisible\n"), "a\nvisible\n");
  const f = new TerminalFilter();
  const long = f.push("\x1b]52;c;" + "A".repeat(10_000) + "tail");
  assert.ok(long.endsWith("tail") && long.length < 10_000 - 4000, "the body past the cap is shown, not swallowed");
});

test("a sequence split across chunks is still removed", () => {
  const f = new TerminalFilter();
  assert.equal(f.push("a\x1b") + f.push("]0;t") + f.push("itle\x07b") + f.flush(), "ab");
});

test("safeJson keeps the data and writes terminal controls as \\u escapes", () => {
  const v = { agent: "a\u009b2J\u202eb\x1b" };
  const s = safeJson(v);
  assert.equal(s, '{"agent":"a\\u009b2J\\u202eb\\u001b"}');
  assert.deepEqual(JSON.parse(s), v);
});

test("guarded output filters every write, the raw stream does not, and flush waits for both", async () => {
  const sink = new PassThrough();
  let seen = "";
  sink.on("data", (d: Buffer) => (seen += d.toString()));
  const out = guardOutput(sink);
  out.write("name: \x1b]0;pwn\x07claude\n");
  out.write(Buffer.from("\x1b[32mok\x1b[0m \x1b[2J\n"));
  rawOutput(out).write("\x1b[H");
  await flushOutput(out);
  assert.equal(seen, "name: claude\n\x1b[32mok\x1b[0m \n\x1b[H");
  assert.equal(guardOutput(out), out);
});

test("invisible characters that hide text are shown escaped; joiners inside emoji stay", () => {
  const smuggled = "ok" + [..."rm -rf"].map((c) => String.fromCodePoint(0xe0000 + c.charCodeAt(0))).join("");
  assert.equal(escapeText(smuggled), "ok\\u{e0072}\\u{e006d}\\u{e0020}\\u{e002d}\\u{e0072}\\u{e0066}");
  assert.equal(sanitizeTerminal(smuggled), escapeText(smuggled));
  assert.equal(escapeText("a\u200bb\u2060c\ufeffd\ufff9e"), "a\\u200bb\\u2060c\\ufeffd\\ufff9e");
  assert.equal(sanitizeTerminal("a\u200bb"), "a\\u200bb");
  const family = "👨\u200d👩\u200d👧";
  assert.equal(escapeText(family), family);
  assert.equal(sanitizeTerminal(family), family);
  assert.equal(escapeText("日本 🙂"), "日本 🙂");
  const j = safeJson({ s: smuggled + "\u200b" });
  assert.doesNotMatch(j, /[\u200b]|\udb40/);
  assert.deepEqual(JSON.parse(j), { s: smuggled + "\u200b" });
});
