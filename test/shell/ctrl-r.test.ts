import { test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { isolatedEnv, tempDir } from "../helpers/env.js";
import { PtySession } from "../helpers/pty.js";

/**
 * Ctrl+R right after a command, as a person types it: once the next prompt shows, the terminal
 * is back in raw mode, so the key reaches the history search rather than the terminal's line
 * discipline (which echoes `^R` and swallows it). The prompt is found as a line of its own: the
 * output of `/agents budget` holds "<agent> <usd>", and a key sent on that "> " would be typed
 * while the command still runs, in cooked mode.
 */
test("the shell: Ctrl+R typed as soon as the prompt is back after a command opens the history search, never a literal ^R", async (t) => {
  const dir = tempDir();
  t.after(dir.cleanup);
  const env = isolatedEnv(dir.path);
  writeFileSync(join(dir.path, "history"), "/agents budget\n/help\n");
  const pty = new PtySession(env);
  t.after(() => pty.kill());
  await pty.waitFor(/(^|\n)> $/);
  for (let round = 0; round < 3; round++) {
    let mark = pty.text.length;
    pty.write("/agents budget\r");
    const out = await pty.waitFor("no per-agent budgets configured.  use /agents budget <agent> <usd> to set one.", undefined, mark);
    // the prompt: "> " at the start of a line after the command's output, with nothing after it
    await pty.waitFor(/\n> $/, undefined, out);
    mark = pty.text.length;
    pty.write("\x12");
    await pty.waitFor("(reverse-i-search)'': ", undefined, mark);
    pty.write("hel");
    await pty.waitFor("(reverse-i-search)'hel': /help", undefined, mark);
    assert.doesNotMatch(pty.text.slice(mark), /\^R/, "Ctrl+R was not echoed");
    pty.write("\x07"); // Ctrl+G: back to an empty line
    await pty.waitFor(/\n?> $/, undefined, pty.text.length - 2);
  }
  pty.write("/exit\r");
  assert.equal(await pty.exited, 0);
  assert.doesNotMatch(pty.text, /\^R/);
});
