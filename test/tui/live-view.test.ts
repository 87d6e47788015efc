import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { encodeMessage } from "../../src/bus/index.js";
import { rawClient, writeAll } from "../helpers/bus-raw.js";
import { readIncidents } from "../../src/slo/incidents.js";
import { registerAgent } from "../../src/fleet/registry.js";
import { ScreenSession } from "../helpers/screen.js";
import { CLI, WAIT_MS } from "../helpers/env.js";
import { makeFleet, openIncident, type Fleet } from "./fixture.js";
import { spawn } from "node:child_process";

const LEAVE = "\x1b[?25h\x1b[?1049l";

function view(f: Fleet, cols: number, rows = 30, env: NodeJS.ProcessEnv = f.env): ScreenSession {
  return new ScreenSession({ env, args: ["top", "--interval", "0.5"], cols, rows, cwd: f.dir });
}

/** Narrow the view to this run's agents (before the filter they may be off screen, or their names shortened). */
async function filterTo(s: ScreenSession, f: Fleet): Promise<void> {
  await s.waitForText(/^(opensre )?top {2}\d+ agents? ·/m);
  s.write("/");
  s.write(f.tag);
  s.write("\r");
  await s.waitForText(`filter "${f.tag}" (3 of`);
}

function rowOf(s: ScreenSession, needle: string): number {
  return s.lines().findIndex((l) => l.includes(needle));
}

/** The screen row drawn inverse (the selection), or -1. */
function selectedRow(s: ScreenSession): number {
  return s.lines().findIndex((_l, y) => s.rowInverse(y));
}

/**
 * Move the selection onto the row holding `needle`: from the top, one key at a time, each time waiting until the view
 * has redrawn the selection (a loaded machine repaints late, and keys sent before the repaint would overshoot).
 */
async function select(s: ScreenSession, needle: string): Promise<void> {
  await s.waitUntil(() => rowOf(s, needle) >= 0, `a row with ${needle}`);
  const header = () => s.lines().findIndex((l) => /^agent +pid /.test(l));
  s.write("g");
  await s.waitUntil(() => header() >= 0 && selectedRow(s) === header() + 1, "the selection on the first row");
  for (let moves = 0; moves < 50; moves++) {
    const y = rowOf(s, needle);
    if (y >= 0 && s.rowInverse(y)) return;
    const before = selectedRow(s);
    s.write("j");
    await s.waitUntil(() => selectedRow(s) !== before, `the selection to move down towards ${needle}`);
  }
  throw new Error(`could not select ${needle}:\n${s.screen()}`);
}

async function quit(s: ScreenSession): Promise<void> {
  s.write("q");
  assert.equal(await s.exited, 0);
  await s.settled();
  assert.equal(s.altScreen, false, "back on the normal screen");
  assert.ok(s.raw.endsWith(LEAVE) || s.raw.includes(LEAVE), "cursor shown and alternate screen left");
}

test("the live view never wraps at 60, 80, 120 and 200 columns; colour by status, none with NO_COLOR", async (t) => {
  const f = await makeFleet();
  t.after(f.cleanup);
  for (const cols of [60, 80, 120, 200]) {
    const s = view(f, cols, 24);
    t.after(() => s.kill());
    await filterTo(s, f);
    await s.waitForText(new RegExp(`${f.tag}-\\S* +${f.alpha.pid} `));
    assert.equal(s.altScreen, true);
    assert.deepEqual(s.wrappedRows(), [], `no wrapped row at ${cols} columns:\n${s.screen()}`);
    const lines = s.lines();
    assert.match(lines[0]!, cols >= 100 ? /^opensre top {2}\d+ agents? · \$[\d.]+\/hr · \d+ tokens\/min · \d+ open incidents? · bus/ : /^(opensre )?top {2}\d+ agents? · \$[\d.]+\/hr · \d+ tok(ens)?\/min · \d+ open( incidents?)? · bus/);
    assert.ok(lines.every((l) => l.length <= cols));
    assert.ok(lines.some((l) => /^agent +pid .*status$/.test(l.trimEnd())), s.screen());
    // NO_COLOR is set by isolatedEnv: attributes only (reverse video for the selection), no colour
    assert.equal(s.colouredCells(), 0, `no coloured cell with NO_COLOR:\n${s.screen()}`);
    await quit(s);
  }
  const { NO_COLOR: _, ...coloured } = f.env;
  const s = view(f, 100, 24, coloured);
  t.after(() => s.kill());
  await filterTo(s, f);
  assert.ok(s.colouredCells() > 0, "colours without NO_COLOR");
  await quit(s);
});

test("select, sort, filter and the details page with sparklines, context and the last tool calls", async (t) => {
  const f = await makeFleet();
  t.after(f.cleanup);
  const s = view(f, 120, 40);
  t.after(() => s.kill());
  await filterTo(s, f);
  assert.match(s.lines()[1]!, /^sort status {2}filter "tui\S+" \(3 of \d+\)$/);
  // s cycles the sort: status, $/hr, tokens/min, cpu, mem, uptime, and back
  for (const k of ["$/hr", "tokens/min", "cpu", "mem", "uptime", "status"]) {
    s.write("s");
    await s.waitUntil((l) => l[1]!.startsWith(`sort ${k} `), `sort ${k}`);
  }
  s.write("s");
  await s.waitUntil((l) => l[1]!.startsWith("sort $/hr "), "sort $/hr");
  // by $/hr, alpha (the only one with a transcript) comes first
  await s.waitUntil((l) => rowOf(s, `${f.tag}-alpha`) < rowOf(s, `${f.tag}-gamma`), "alpha first by $/hr");
  await select(s, `${f.tag}-gamma`);
  s.write("k");
  await s.waitUntil(() => !s.rowInverse(rowOf(s, `${f.tag}-gamma`)), "selection moved up");
  await select(s, `${f.tag}-alpha`);
  s.write("\r");
  await s.waitForText(`${f.tag}-alpha (pid ${f.alpha.pid}) · claude-code`);
  await s.waitForText(/tokens\/min +\d+ +[▁▂▃▄▅▆▇█ ]+ +last 30 min/);
  const screen = s.screen();
  assert.match(screen, /\$\/hr +\$[\d.]+ +[▁▂▃▄▅▆▇█ ]+ +last 30 min/);
  assert.match(screen, /cpu% +[\d.-]+ +[▁▂▃▄▅▆▇█ ]* *last 30 min/);
  assert.match(screen, /context +.*%|context +-/);
  assert.match(screen, /rate limits +- \(not reported by this agent\)/);
  assert.match(screen, /last tool calls\n +\d\d:\d\d:\d\d {2}Edit {2}.*auth\.py/);
  assert.match(screen, /SLOs\n +none set for this agent/);
  assert.deepEqual(s.wrappedRows(), []);
  s.write("\x1b");
  await s.waitUntil((l) => l[1]!.startsWith("sort $/hr "), "back to the list");
  // Esc on the list clears the filter
  s.write("\x1b");
  await s.waitUntil((l) => !l[1]!.includes("filter"), "filter cleared");
  await quit(s);
});

test("t traces stdout when it is a file, else the transcript; b tails the bus", async (t) => {
  const f = await makeFleet();
  t.after(f.cleanup);
  const s = view(f, 100, 30);
  t.after(() => s.kill());
  await filterTo(s, f);
  await select(s, `${f.tag}-beta`);
  s.write("t");
  await s.waitForText(`trace ${f.tag}-beta (pid ${f.beta.pid}) stdout ${f.stdoutFile}`);
  await s.waitForText(/^tick \d+$/m);
  const first = Number(/^tick (\d+)$/m.exec(s.screen())![1]);
  await s.waitUntil((l) => l.some((x) => /^tick (\d+)$/.test(x) && Number(/^tick (\d+)$/.exec(x)![1]) > first + 3), "the trace follows");
  s.write("\x1b");
  await s.waitUntil((l) => l[1]!.startsWith("sort "), "back to the list");
  await select(s, `${f.tag}-alpha`);
  s.write("t");
  await s.waitForText(`trace ${f.tag}-alpha (pid ${f.alpha.pid}) transcript ${f.transcript.slice(0, 40)}`);
  await s.waitForText("> fix the auth bug");
  f.claude({ type: "assistant", requestId: "r2", message: { id: "m2", model: "claude-sonnet-4-5-20250929", role: "assistant", content: [{ type: "text", text: "Fixed \u202eit\x1b[2J." }], stop_reason: "end_turn", usage: { input_tokens: 5, output_tokens: 5 } } });
  await s.waitForText("< Fixed \\u202eit\\x1b[2J.");
  s.write("\x1b");
  await s.waitUntil((l) => l[1]!.startsWith("sort "), "back to the list");

  s.write("b");
  await s.waitForText(/attached \(broker pid \d+\)/);
  await s.waitUntil((l) => /bus [1-9]\d* subscriber|bus 0 subscribers/.test(l[0]!), "bus count in the header");
  // through a bare socket to the view's broker: this test process never elects, so never hosts a broker
  const pub = await rawClient(join(f.home, "agents-bus.sock"));
  t.after(() => pub.destroy());
  await writeAll(pub, [Buffer.from(encodeMessage({ agent: `claude-code:${f.alpha.pid}`, topic: "finding", summary: "null deref \x1b]52;c;aGk=\x07on missing token", path: "services/auth.py:42" }))]);
  await s.waitForText(`[claude-code:${f.alpha.pid}] services/auth.py:42 — null deref \\x1b]52;c;aGk=\\x07on missing token`);
  // the publisher's connection is counted at the next refresh
  await s.waitUntil((l) => /bus [1-9]\d* subscribers?/.test(l[0]!), "the publisher counted in the header");
  assert.ok(!s.raw.includes("\x1b]52"), "no clipboard write reached the terminal");
  await quit(s);
});

test("i lists incidents: Enter shows the evidence, a acknowledges, r resolves", async (t) => {
  const f = await makeFleet();
  t.after(f.cleanup);
  const id = await openIncident(f.home, f.gamma.pid!, `${f.tag}-gamma`, "12m no progress (threshold: 8m)", "line one\n\x1b[31mred\x1b[0m \x1b]0;title\x07done\n");
  const s = view(f, 100, 30);
  t.after(() => s.kill());
  await filterTo(s, f);
  await s.waitForText(/1 open incident/);
  await s.waitUntil(() => s.lines().some((l) => l.includes(`${f.tag}-gamma`) && l.includes("breach:progress")), "breach on the row");
  s.write("i");
  await s.waitForText(new RegExp(`${id} +${f.tag}-gamma +${f.gamma.pid} +progress +open`));
  s.write("\r");
  await s.waitForText(`incident ${id}  open`);
  await s.waitForText("evidence    last");
  assert.ok(s.lines().includes("  line one"));
  assert.ok(s.lines().includes("  red done"), s.screen());
  s.write("a");
  await s.waitForText(`acknowledged ${id}`);
  await s.waitForText(`incident ${id}  acked`);
  s.write("\x1b");
  await s.waitForText(new RegExp(`${id} .* acked`));
  s.write("r");
  await s.waitForText(`resolved ${id}`);
  const inc = readIncidents(f.home).incidents.find((i) => i.id === id)!;
  assert.ok(inc.acked_at && inc.resolved_at);
  assert.equal(inc.resolution, "resolved by user");
  s.write("\x1b");
  await s.waitForText(/0 open incidents/);
  await quit(s);
});

test("K kills with the kill command's question: n cancels, y stops the agent", async (t) => {
  const f = await makeFleet();
  t.after(f.cleanup);
  const s = view(f, 100, 30);
  t.after(() => s.kill());
  await filterTo(s, f);
  await select(s, `${f.tag}-gamma`);
  s.write("K");
  await s.waitForText(`About to SIGTERM ${f.tag}-gamma (pid ${f.gamma.pid}). Confirm? [y/N]`);
  s.write("n");
  await s.waitForText("Cancelled.");
  assert.equal(f.gamma.exitCode, null);
  assert.equal(f.gamma.signalCode, null);
  s.write("K");
  await s.waitForText(`About to SIGTERM ${f.tag}-gamma (pid ${f.gamma.pid}). Confirm? [y/N]`);
  const gone = new Promise((r) => f.gamma.once("exit", (_c, sig) => r(sig)));
  s.write("y");
  await s.waitForText(/Sent SIGTERM\. Process exited after \d+\.\ds\./);
  assert.equal(await gone, "SIGTERM");
  await s.waitUntil(() => !s.screen().includes(`${f.tag}-gamma`), "the row leaves");
  await quit(s);
});

test("hostile agent names render as inert visible text", async (t) => {
  const f = await makeFleet();
  t.after(f.cleanup);
  const evil = spawn("/bin/sleep", ["600"], { stdio: "ignore" });
  t.after(() => evil.kill("SIGKILL"));
  await registerAgent(f.home, { pid: evil.pid!, name: `${f.tag}-\x1b]52;c;ZXZpbA==\x07\x1b[2J\u202eevil` });
  const s = view(f, 120, 30);
  t.after(() => s.kill());
  // other agents on the machine may push this run's rows off screen: the view is up, then filtered to them
  await s.waitForText(/^(opensre )?top {2}\d+ agents? ·/m);
  s.write(`/${f.tag}\r`);
  await s.waitForText(`filter "${f.tag}" (4 of`);
  await s.waitForText(`${f.tag}-\\x1b]52;c;`);
  await select(s, "\\x1b]52");
  s.write("\r");
  await s.waitForText(`${f.tag}-\\x1b]52;c;ZXZpbA==\\x07\\x1b[2J\\u202eevil (pid ${evil.pid})`);
  assert.equal(s.lines()[0]!.startsWith("opensre top"), true, "the screen was not cleared");
  assert.ok(!s.raw.includes("\x1b]52"), "no clipboard write");
  assert.ok(!s.raw.includes("\u202e"), "no bidi override");
  assert.ok(!/\x1b\[2J(?!\x1b)/.test(s.raw.replace(/\x1b\[H\x1b\[2J/g, "")), "no screen clear but the view's own");
  await quit(s);
});

/** `opensre top` under a shell that reports the terminal's mode after it exits. */
function underShell(f: Fleet): ScreenSession {
  const script = `"${process.execPath}" "${CLI}" top --interval 0.5; echo "exit=$?"; stty -a | tr ' ' '\\n' | grep -x -- '-*icanon'; stty -a | tr ' ' '\\n' | grep -x -- '-*echo'; sleep 30`;
  return new ScreenSession({ env: f.env, file: "/bin/sh", args: ["-c", script], cols: 100, rows: 24, cwd: f.dir });
}

function childPid(pid: number): number {
  const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).map(Number);
  return kids[0]!;
}

test("the terminal is given back after q, after Ctrl+C and after SIGTERM", async (t) => {
  const f = await makeFleet();
  t.after(f.cleanup);
  for (const how of ["q", "ctrl-c", "sigterm"] as const) {
    const s = underShell(f);
    t.after(() => s.kill());
    await filterTo(s, f);
    await s.waitForText(`${f.tag}-gamma`);
    assert.equal(s.altScreen, true);
    if (how === "q") s.write("q");
    else if (how === "ctrl-c") s.write("\x03");
    else process.kill(childPid(s.pid), "SIGTERM");
    await s.waitForText(/exit=\d+\nicanon\necho/);
    assert.match(s.screen(), how === "sigterm" ? /exit=143/ : /exit=0/);
    assert.equal(s.altScreen, false);
    const shown = s.raw.lastIndexOf("\x1b[?25h");
    assert.ok(shown > s.raw.lastIndexOf("\x1b[?25l"), `cursor shown again after ${how}`);
  }
});

test("/agents --watch in the shell opens the view and q returns to the prompt", async (t) => {
  const f = await makeFleet();
  t.after(f.cleanup);
  const s = new ScreenSession({ env: f.env, args: [], cols: 100, rows: 24, cwd: f.dir });
  t.after(() => s.kill());
  await s.waitForText("> ");
  s.write("/agents --watch --interval 0.5\r");
  await filterTo(s, f);
  await s.waitForText(`${f.tag}-gamma`);
  assert.equal(s.altScreen, true);
  s.write("?");
  await s.waitForText("K           kill it: SIGTERM, 5 s grace, SIGKILL (asks first)");
  s.write("q");
  await s.waitUntil(() => !s.altScreen, "left the view");
  s.write("/help\r");
  await s.waitForText("/top [--interval S]");
  s.write("\x04");
  assert.equal(await s.exited, 0);
});
