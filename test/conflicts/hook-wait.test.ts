import { test } from "node:test";
import assert from "node:assert/strict";
import { writeBlockReason } from "../../src/conflicts/hook.js";

test("the hook's block message says how much of the window is left, not the whole window", () => {
  const agent = { name: "auth-fixer", pid: 14521 };
  assert.equal(
    writeBlockReason("/home/dev/shop/services/auth.py", agent, 36_400, 120_000),
    "/home/dev/shop/services/auth.py was written by auth-fixer (pid 14521) 36s ago; wait 84s or coordinate on /agents bus",
  );
  assert.equal(writeBlockReason("/r/a.py", agent, 0, 120_000), "/r/a.py was written by auth-fixer (pid 14521) 0s ago; wait 120s or coordinate on /agents bus");
  // at the end of the window there is still a second to wait, never 0 or less
  assert.equal(writeBlockReason("/r/a.py", agent, 119_900, 120_000), "/r/a.py was written by auth-fixer (pid 14521) 120s ago; wait 1s or coordinate on /agents bus");
  assert.equal(writeBlockReason("/r/a.py", agent, 59_000, 60_000), "/r/a.py was written by auth-fixer (pid 14521) 59s ago; wait 1s or coordinate on /agents bus");
});
