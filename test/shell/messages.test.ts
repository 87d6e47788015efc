import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runCli } from "../helpers/cli.js";
import { isolatedEnv, tempDir, WAIT_MS } from "../helpers/env.js";
import { PtySession } from "../helpers/pty.js";
import { isPidAlive } from "../../src/util/pid.js";

function setup(t: { after: (f: () => void) => void }) {
  const dir = tempDir();
  t.after(dir.cleanup);
  return { dir: dir.path, env: isolatedEnv(dir.path) };
}

test("help: /help --help, /quit --help, /help <command>, /agents --help lists its subcommands, unknown commands as typed", async (t) => {
  const { env } = setup(t);
  const shell = await runCli([], { env, input: "/help --help\n/quit --help\n/exit --help\n/help agents bus\n/help /agents trace\n/help nothing\n/agents frobnicate\n/agnets\n" });
  assert.equal(
    shell.stdout,
    "usage: /help [command]\n  list every command, or show one command's usage and subcommands (/help agents bus)\n" +
      "usage: /quit\n  leave the shell (also /exit, or Ctrl+D)\n" +
      "usage: /exit\n  leave the shell (also /quit, or Ctrl+D)\n" +
      "usage: /agents bus [--json]\n  tail the local bus of findings between agents (live, Ctrl-C to exit)\n" +
      "usage: /agents trace <pid> [--tail N] [--stderr] [--raw] [--transcript]\n  live tail of an agent's stdout (like kubectl logs -f); Ctrl+C to stop\n",
  );
  assert.equal(
    shell.stderr,
    "unknown command: /nothing  (try /help)\nunknown command: /agents frobnicate  (try /help)\nunknown command: /agnets  (did you mean /agents? try /help)\n",
  );

  for (const args of [["agents", "--help"], ["help", "agents"], ["/agents", "-h"]]) {
    const r = await runCli(args, { env });
    assert.equal(r.code, 0, args.join(" "));
    const lines = r.stdout.split("\n");
    assert.equal(lines[0], "usage: /agents [--wide] [--json] [--watch [--interval S]]");
    assert.equal(lines[3], "subcommands (/help agents <subcommand> for one):");
    for (const sub of ["bus [--json]", "trace <pid>", "publish --agent", "budget", "incidents", "kill <pid>", "conflicts", "claim", "graph", "hook"]) {
      assert.ok(lines.some((l) => l.startsWith(`/agents ${sub}`)), `${args.join(" ")} lists /agents ${sub}`);
    }
  }
  const typo = await runCli(["agents", "bsu"], { env });
  assert.equal(typo.stderr, "unknown command: agents bsu  (did you mean opensre agents bus? try opensre --help)\n");
  assert.equal(typo.code, 2);
});

test("`opensre /agents …`, written the way the shell spells it, runs the command", async (t) => {
  const { env } = setup(t);
  const r = await runCli(["/agents", "budget"], { env });
  assert.equal(r.stdout, "no per-agent budgets configured.  use /agents budget <agent> <usd> to set one.\n");
  assert.equal(r.code, 0);
});

test("argument messages: pids that are not process ids, negative numbers, a y answer without a newline", async (t) => {
  const { env } = setup(t);
  const cases: Array<[string[], string]> = [
    [["agents", "trace", "0"], "invalid pid: 0 is not a process id (pids start at 1)\n"],
    [["agents", "trace", "-5"], "invalid pid: -5 is not a process id (pids start at 1)\n"],
    [["agents", "trace", "12x"], "invalid pid: 12x is not an integer\n"],
    [["agents", "trace", "1", "--tail", "-1"], "invalid --tail: must be an integer ≥ 0\n"],
    [["agents", "trace", "1", "--tail=-1"], "invalid --tail: must be an integer ≥ 0\n"],
    [["agents", "trace", "1", "--tail", "x"], "invalid --tail: x is not an integer\n"],
    [["agents", "kill", "-1"], "invalid pid: -1 is not a process id (pids start at 1)\n"],
    [["agents", "register", "0", "x"], "invalid pid: 0 is not a process id (pids start at 1)\n"],
    [["agents", "forget", "-7"], "invalid pid: -7 is not a process id (pids start at 1)\n"],
    [["agents", "scan", "extra"], "unexpected argument: extra\nusage: /agents scan [--register] [--all] [--explain]\n"],
  ];
  for (const [args, message] of cases) {
    const r = await runCli(args, { env });
    assert.equal(r.stderr, message, args.join(" "));
    assert.equal(r.code, 2, args.join(" "));
  }

  for (const [answer, kills] of [["y", true], ["n", false], ["", false]] as const) {
    const victim = spawn("/bin/sleep", ["60"], { stdio: "ignore" });
    t.after(() => victim.kill("SIGKILL"));
    const exited = new Promise((r) => victim.once("exit", r));
    const r = await runCli(["agents", "kill", String(victim.pid), "--any"], { env, input: answer }); // a plain process: --any
    assert.match(r.stdout, new RegExp(`^About to SIGTERM pid ${victim.pid}\\. Confirm\\? \\[y/N\\] ` + (kills ? "Sent SIGTERM\\. Process exited after" : "Cancelled\\.\\n$")), `answer ${JSON.stringify(answer)}`);
    if (kills) await exited;
    assert.equal(isPidAlive(victim.pid!), !kills);
  }
});

test("the shell: Tab completes flags, incident ids and the live fleet's pids; Ctrl+R searches history", async (t) => {
  const { dir, env } = setup(t);
  const bin = join(dir, "bin");
  mkdirSync(bin);
  copyFileSync("/bin/sleep", join(bin, "claude"));
  const agent = spawn(join(bin, "claude"), ["300"], { stdio: "ignore" });
  t.after(() => agent.kill("SIGKILL"));
  const incident = { id: "07745542", agent: "claude-code", pid: agent.pid, start_time: null, provider: "claude-code", slo: "conflict", detail: "two writers", opened_at: new Date().toISOString(), acked_at: null, resolved_at: null, resolution: null, kills: [], evidence: { source: null, output: "", resources: {}, signals: {} } };
  writeFileSync(join(dir, "incidents.jsonl"), JSON.stringify({ event: "open", incident }) + "\n");
  writeFileSync(join(dir, "history"), "/agents budget\n/help\n");

  const pty = new PtySession(env);
  t.after(() => pty.kill());
  await pty.waitFor("> ");
  let mark = pty.text.length;
  pty.write("/agents incidents sh\t");
  await pty.waitFor("/agents incidents show ", WAIT_MS, mark);
  pty.write("\t");
  await pty.waitFor("/agents incidents show 07745542 ", WAIT_MS, mark);
  pty.write("\x15"); // Ctrl+U: clear the line
  mark = pty.text.length;
  pty.write("/agents trace 1 --tr\t");
  await pty.waitFor("/agents trace 1 --transcript ", WAIT_MS, mark);
  pty.write("\x15");
  mark = pty.text.length;
  pty.write("/agents trace \t");
  await new Promise((r) => setTimeout(r, 500)); // two Tabs in one write would read as pasted text
  pty.write("\t");
  await pty.waitFor(new RegExp(`(^|\\s)${agent.pid}(\\s|$)`), WAIT_MS, mark);
  pty.write("\x15");

  mark = pty.text.length;
  pty.write("\x12bud");
  await pty.waitFor("(reverse-i-search)'bud': /agents budget", WAIT_MS, mark);
  pty.write("\r");
  await pty.waitFor("no per-agent budgets configured.", WAIT_MS, mark);
  // the prompt on a line of its own: the output's "<agent> <usd>" holds "> " too, and a key sent
  // while the command still runs meets a cooked terminal, which echoes Ctrl+R as ^R and swallows it
  await pty.waitFor(/\n> $/, WAIT_MS, pty.text.lastIndexOf("no per-agent budgets"));
  mark = pty.text.length;
  pty.write("\x12zzz");
  await pty.waitFor("(failed reverse-i-search)'zzz'", WAIT_MS, mark);
  pty.write("\x07"); // Ctrl+G gives the line back
  pty.write("/exit\r");
  assert.equal(await pty.exited, 0);
});
