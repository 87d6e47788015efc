import { test } from "node:test";
import assert from "node:assert/strict";
import { KeyDecoder, type Key } from "../../src/tui/keys.js";
import { CpuHistory, requestSeries, sparkline, SPARK_MINUTES } from "../../src/tui/history.js";
import { renderLine, line, text } from "../../src/tui/screen.js";
import { sortAgents, matchesFilter, headerLine } from "../../src/tui/pages.js";
import { MAX_WIDTH_CACHE, textWidth } from "../../src/tui/text.js";
import type { FleetAgent } from "../../src/fleet/model.js";

function keys(input: string[], wait = 0): Promise<string[]> {
  const got: string[] = [];
  const d = new KeyDecoder((k: Key) => got.push(k.name === "char" ? k.char : k.name), 10);
  for (const ch of input) d.push(ch);
  return new Promise((r) => setTimeout(() => (d.dispose(), r(got)), wait + 30));
}

test("keys: arrows, paging, Enter, Backspace; a lone ESC is Escape after its timeout", async () => {
  assert.deepEqual(await keys([..."\x1b[A\x1b[B\x1bOA\x1b[5~\x1b[6~\x1b[H\x1b[4~\r\x7fjK/"]), ["up", "down", "up", "pageup", "pagedown", "home", "end", "enter", "backspace", "j", "K", "/"]);
  assert.deepEqual(await keys(["\x1b"]), ["escape"]);
  assert.deepEqual(await keys(["\x1b", "q"]), ["escape", "q"]);
  // an unknown or overlong sequence is dropped, not typed
  assert.deepEqual(await keys([..."\x1b[99;99;99;99;99;99;99x", "j"]), ["j"]);
});

function agent(pid: number, o: Partial<FleetAgent> & { usd?: number; tokens?: number; cpu?: number } = {}): FleetAgent {
  return {
    name: o.name ?? `a${pid}`,
    pid,
    provider: o.provider ?? "claude-code",
    source: "discovered",
    confidence: 1,
    reason: "",
    command: "",
    cwd: o.cwd ?? null,
    startTime: 1,
    resource: { uptimeSec: pid, cpuPct: o.cpu ?? null, rssBytes: pid * 1000, children: 0 },
    transcript: o.usd === undefined ? null : ({ usdPerHour: o.usd, tokensPerMin: o.tokens ?? 0, recent: [], unpriced: false } as unknown as FleetAgent["transcript"]),
    lastOutputAt: null,
    stdoutPath: null,
    status: o.status ?? "idle",
    openIncidents: o.openIncidents ?? [],
  };
}

test("sort and filter: breach and stuck first by status; numbers descending with unknowns last", () => {
  const list = [agent(1, { status: "active", usd: 1 }), agent(2, { status: "stuck" }), agent(3, { openIncidents: ["cost"], usd: 9 }), agent(4, { cpu: 50 })];
  assert.deepEqual(sortAgents(list, "status").map((a) => a.pid), [3, 2, 1, 4]);
  assert.deepEqual(sortAgents(list, "$/hr").map((a) => a.pid), [3, 1, 2, 4]);
  assert.deepEqual(sortAgents(list, "cpu").map((a) => a.pid), [4, 1, 2, 3]);
  assert.deepEqual(sortAgents(list, "mem").map((a) => a.pid), [4, 3, 2, 1]);
  assert.ok(matchesFilter(agent(5, { cwd: "/home/dev/Shop" }), "shop"));
  assert.ok(matchesFilter(agent(6, { provider: "codex" }), "CODEX"));
  assert.ok(!matchesFilter(agent(7), "zzz"));
});

test("history: one CPU value a minute for the last 30 minutes; agents that leave are forgotten", () => {
  const h = new CpuHistory();
  const a = agent(1, { cpu: 10 });
  const t0 = 1_000_000 * 60_000;
  for (let m = 0; m < 45; m++) h.record({ takenAt: t0 + m * 60_000, agents: [{ ...a, resource: { ...a.resource, cpuPct: m } }], warnings: [] });
  const s = h.series(a, t0 + 44 * 60_000);
  assert.equal(s.length, SPARK_MINUTES);
  assert.deepEqual([s[0], s[29]], [15, 44]);
  h.record({ takenAt: t0 + 45 * 60_000, agents: [], warnings: [] });
  assert.ok(h.series(a, t0 + 45 * 60_000).every((v) => v === null));
  assert.equal(sparkline([0, 1, 2, null, 8]), "▁▁▂ █");
  const now = t0 + 45_000;
  const withReqs = agent(2, { usd: 1 });
  withReqs.transcript!.recent = [{ t: now - 30_000, tokens: 600, usd: 0.01, error: false, latencyMs: null }, { t: now - 40 * 60_000, tokens: 5, usd: 0, error: false, latencyMs: null }];
  const r = requestSeries(withReqs, now);
  assert.equal(r.tokensPerMin[29], 600);
  assert.equal(r.usdPerHour[29], 0.6);
  assert.equal(r.tokensPerMin.reduce((x, y) => x! + y!, 0), 600, "older than 30 minutes is out");
});

test("a drawn line never passes the width; colour only when asked", () => {
  const l = line(text("name-that-is-long"), text(" active", "active"));
  assert.equal(renderLine(l, 10, false).width, 10);
  assert.ok(!renderLine(l, 40, false).out.includes("\x1b[32"));
  assert.ok(renderLine(l, 40, true).out.includes("\x1b[32m"));
  const h = headerLine("opensre top", { agents: 50, usdPerHour: 123.4, tokensPerMin: 99999, openIncidents: 2, busPeers: 3 }, Date.now(), 60);
  assert.ok(renderLine(h, 60, false).width <= 60);
  assert.match(h.segments.map((s) => s.text).join(""), /^top {2}50 agents · \$123\/hr · 99999 tok\/min · 2 open · bus 3/);
});

test("a trace or bus pane keeps the newest TEXT_LINES lines and cuts a runaway line", async () => {
  const { pane, pushText, TEXT_LINES } = await import("../../src/tui/fleet-view.js");
  const p = pane("t");
  for (let i = 0; i < TEXT_LINES + 100; i++) pushText(p, `line ${i}\n`, (l) => l);
  assert.equal(p.lines.length, TEXT_LINES);
  assert.equal(p.lines[0], "line 100");
  pushText(p, "x".repeat(70 * 1024), (l) => l.slice(0, 5));
  assert.equal(p.partial, "");
  assert.equal(p.lines[p.lines.length - 1], "xxxxx");
});

test("widths: wide and zero-width text measured right, also past the bound of remembered widths", () => {
  assert.equal(textWidth("ab c"), 4);
  assert.equal(textWidth(" · "), 3);
  assert.equal(textWidth("漢字"), 4);
  assert.equal(textWidth("e\u0301"), 1);
  for (let i = 0; i < MAX_WIDTH_CACHE + 50; i++) assert.equal(textWidth(`漢${i}`), 2 + String(i).length);
  assert.equal(textWidth("漢字"), 4);
  assert.equal(textWidth("👍🏽"), 2);
});
