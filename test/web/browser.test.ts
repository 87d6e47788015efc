import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { CliProcess, runCli } from "../helpers/cli.js";
import { isolatedEnv, tempDir, WAIT_MS } from "../helpers/env.js";
import { artefact, launchBrowser, noBrowser } from "../helpers/browser.js";
import { claudeProjectDir } from "../../src/fleet/transcripts/match.js";
import { registerAgent } from "../../src/fleet/registry.js";
import { openEvent, withIncidents, type Incident } from "../../src/slo/incidents.js";
import { escapeText } from "../../src/term/sanitize.js";
import { REFUSED } from "../../src/web/security.js";

/**
 * The dashboard end to end in a real browser (Debian's Chromium through playwright-core): the
 * real `opensre agents web` process, a real fake agent (a child process with a transcript in a
 * temp dir, in an isolated environment), real files for incidents, the real bus.
 */

const skip = noBrowser();

// what the functions evaluated in the page touch (the tests compile without the DOM's types)
interface El {
  textContent: string | null;
  getAttribute(name: string): string | null;
  querySelector(selector: string): El | null;
}
declare const document: {
  body: { dataset: Record<string, string | undefined> };
  querySelector(selector: string): El | null;
  querySelectorAll(selector: string): Iterable<El>;
  addEventListener(type: "securitypolicyviolation", f: (e: { violatedDirective: string; blockedURI: string }) => void): void;
};
declare const window: unknown;

/** Markup, script, terminal escape sequences (colour, OSC title, cursor), bidi override: every field gets it. */
const HOSTILE = `<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>\x1b[31mred\x1b]0;title\x07\x1b[2J\u202eevil`;
const SESSION = "11111111-2222-4333-8444-555555555555";

async function seq(page: Page): Promise<number> {
  return Number(await page.evaluate(() => document.body.dataset.seq ?? "0"));
}

/** A temp home, a fake `claude` (a copy of sleep) in bin/ and the agent's folder work/<folder>; removed when `t` ends. */
function fakeAgentHome(t: TestContext, folder: string) {
  const dir = tempDir();
  t.after(dir.cleanup);
  const home = join(dir.path, "home");
  const env = isolatedEnv(home);
  const bin = join(dir.path, "bin");
  mkdirSync(bin);
  copyFileSync("/bin/sleep", join(bin, "claude"));
  const shop = join(dir.path, "work", folder);
  mkdirSync(shop, { recursive: true });
  return { home, env, bin, shop };
}

/** The real `opensre agents web` on port 0, killed when `t` ends; resolves to the URL it prints. */
async function startWeb(t: TestContext, env: NodeJS.ProcessEnv): Promise<string> {
  const web = new CliProcess(["agents", "web", "--port", "0"], { env });
  t.after(() => web.kill("SIGKILL"));
  await web.waitFor((o) => /dashboard on http:\/\/\S+/.test(o), WAIT_MS, "the dashboard's URL");
  return /dashboard on (http:\/\/\S+)/.exec(web.stdout)![1]!;
}

test("the dashboard in Chromium: token, live fake agent, charts, hostile text inert, ack shows in the CLI, kill with confirmation", { skip, timeout: 180_000 }, async (t) => {
  // the agent's folder name is hostile too (shown as the agent's folder in conflicts and filters)
  const { home, env, bin, shop } = fakeAgentHome(t, "shop<b>bold</b>");
  const url = await startWeb(t, env);
  assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/\?token=[A-Za-z0-9_-]{32}$/);

  const browser = await launchBrowser();
  t.after(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.addInitScript(() => {
    const w = window as unknown as { __csp: string[] };
    w.__csp = [];
    document.addEventListener("securitypolicyviolation", (e) => w.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));
  });

  // refused without the token, and with a wrong one
  const bare = await page.goto(url.replace(/\?token=.*$/, ""));
  assert.equal(bare!.status(), 401);
  assert.equal((await page.textContent("body"))!.trim(), REFUSED.token);
  assert.equal((await page.goto(url.replace(/.$/, (c) => (c === "A" ? "B" : "A"))))!.status(), 401);

  // loads with it
  const ok = await page.goto(url);
  assert.equal(ok!.status(), 200);
  await page.waitForSelector("body[data-seq]", { timeout: WAIT_MS });
  assert.equal(await page.title(), "opensre agents");

  // a fake agent appears live, within one refresh
  const before = await seq(page);
  const agent: ChildProcess = spawn(join(bin, "claude"), ["300"], { cwd: shop, stdio: "ignore", env });
  t.after(() => agent.kill("SIGKILL"));
  await registerAgent(home, { pid: agent.pid!, name: HOSTILE, provider: "claude-code" });
  const project = join(env.CLAUDE_CONFIG_DIR!, "projects", claudeProjectDir(shop));
  mkdirSync(project, { recursive: true });
  const now = Date.now();
  const ts = (d: number) => new Date(now - 3000 + d).toISOString();
  const base = { cwd: shop, sessionId: SESSION, version: "2.0.14" };
  const lines = [
    { ...base, type: "user", timestamp: ts(0), message: { role: "user", content: HOSTILE } },
    { ...base, type: "assistant", timestamp: ts(1000), requestId: "req_1", message: { id: "msg_1", model: "claude-sonnet-4-5-20250929", role: "assistant", content: [{ type: "text", text: HOSTILE }], stop_reason: "tool_use", usage: { input_tokens: 1000, output_tokens: 500 } } },
  ];
  writeFileSync(join(project, `${SESSION}.jsonl`), lines.map((l) => JSON.stringify(l)).join("\n") + "\n");
  const row = `#fleet-table tr[data-pid="${agent.pid}"]`;
  await page.waitForSelector(row, { timeout: WAIT_MS });
  const seen = await seq(page);
  assert.ok(seen <= before + 2, `the agent appeared at refresh ${seen}, started before refresh ${before + 1} began: within one refresh`);
  await page.waitForFunction((sel) => document.querySelector(sel)?.querySelector("td:nth-child(6)")?.textContent === "300", row, { timeout: WAIT_MS });

  // the hostile name is inert text: shown escaped, nothing created from it
  const nameCell = await page.textContent(`${row} td.name`);
  assert.equal(nameCell, escapeText(HOSTILE));
  assert.ok(nameCell!.includes("\\x1b[31m") && nameCell!.includes("\\u202e"), "escape sequences and bidi overrides are shown, not acted on");

  // a chart shows the agent's live series (tokens/min from its transcript)
  await page.click(`${row} td.name`);
  await page.waitForFunction(() => /peak 1\.5k at \d\d:\d\d:\d\d · 60 points/.test(document.querySelector('[data-chart="tokens"] .caption')?.textContent ?? ""), null, { timeout: WAIT_MS });
  assert.equal(await page.locator('[data-chart="tokens"] canvas').count(), 1);
  assert.equal(await page.textContent("#agent-name"), `${escapeText(HOSTILE)} (pid ${agent.pid}, claude-sonnet-4-5-20250929)`);

  // hostile bus message, every field
  const pub = await runCli(["agents", "publish", "--agent", `${HOSTILE}:1`, "--summary", HOSTILE, "--path", HOSTILE, "--topic", HOSTILE, "--source", HOSTILE], { env });
  assert.equal(pub.code, 0, pub.stderr);
  await page.waitForFunction(() => (document.querySelector("#bus-tail li[data-seq]")?.textContent ?? "").includes("evil"), null, { timeout: WAIT_MS });
  const busLine = await page.textContent("#bus-tail li[data-seq]");
  assert.ok(busLine!.includes(`[${escapeText(HOSTILE)}:1] ${escapeText(HOSTILE)}${escapeText(HOSTILE)} — ${escapeText(HOSTILE)}`), busLine!);

  // an incident with hostile detail and evidence; ack it in the page
  const inc: Incident = {
    id: "feedc0de",
    agent: HOSTILE,
    pid: agent.pid!,
    start_time: null,
    provider: "claude-code",
    slo: "cost",
    detail: HOSTILE,
    opened_at: new Date().toISOString(),
    acked_at: null,
    resolved_at: null,
    resolution: null,
    kills: [],
    evidence: { source: join(project, `${SESSION}.jsonl`), output: `last words ${HOSTILE}\n\x1b[1mbold\x1b[0m\n`, resources: { uptimeSec: 5, cpuPct: 0, rssBytes: 1 << 20, children: 0 }, signals: { status: "active", lastOutputAt: null, tokensPerMin: 300, usdPerHour: 0.126, spendLastHourUsd: 0.01, errorRatePct: 0, model: HOSTILE } },
  };
  await withIncidents(home, () => ({ result: undefined, events: [openEvent(inc)] }));
  const incRow = '#incident-table tr[data-id="feedc0de"]';
  await page.waitForSelector(incRow, { timeout: WAIT_MS });
  await page.waitForFunction((sel) => document.querySelector(sel)?.querySelector("td.status")?.textContent === "breach:cost", row, { timeout: WAIT_MS });
  assert.equal(await page.textContent(`${incRow} td.detail`), escapeText(HOSTILE));
  await page.click(`${incRow} button[data-action="evidence"]`);
  await page.waitForSelector('#evidence[data-id="feedc0de"] pre.output');
  // as `incidents show` prints it: the trace filter removes every control sequence, the page escapes what is left
  assert.equal(await page.textContent("#evidence pre.output"), `last words <img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>red\\u202eevil\nbold\n`);
  assert.ok((await page.textContent("#evidence"))!.includes(`model ${escapeText(HOSTILE)}`));
  await page.click(`${incRow} button[data-action="ack"]`);
  await page.waitForFunction((sel) => document.querySelector(sel)?.querySelector("td.state")?.textContent === "acked", incRow, { timeout: WAIT_MS });
  const list = await runCli(["agents", "incidents"], { env });
  assert.equal(list.code, 0, list.stderr);
  const line = list.stdout.split("\n").find((l) => l.startsWith("feedc0de"));
  assert.match(line ?? "", /^feedc0de +\S.* +cost +acked +\d+s ago +/, list.stdout);

  // nothing hostile ran or was created, and the page kept to its own content security policy
  assert.equal(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned), undefined);
  assert.equal(await page.locator("main img, main script, main b").count(), 0);
  assert.deepEqual(await page.evaluate(() => (window as unknown as { __csp: string[] }).__csp), []);
  assert.deepEqual(errors, []);
  await page.screenshot({ path: artefact("dashboard.png"), fullPage: true });

  // kill, with the kill command's question and guards
  await page.click(`${row} button.danger`);
  await page.waitForSelector("dialog#confirm[open]");
  assert.equal(await page.textContent("#confirm-text"), `About to SIGTERM ${escapeText(HOSTILE)} (pid ${agent.pid}). Confirm? [y/N] `);
  const exited = once(agent, "exit");
  await page.click("#confirm-yes");
  await exited;
  await page.waitForFunction(() => [...document.querySelectorAll("#warnings .toast")].some((p) => /^Sent SIGTERM\. Process exited after \d+\.\ds\.$/.test(p.textContent ?? "")), null, { timeout: WAIT_MS });
  await page.waitForSelector(row, { state: "detached", timeout: 30_000 });
});

test("the day and week charts show the history store's series of the agent", { skip, timeout: 180_000 }, async (t) => {
  const { home, env, bin, shop } = fakeAgentHome(t, "billing");

  // a session that worked three and two hours ago: nothing in the live hour, all of it in the store
  const now = Date.now();
  const a = now - 3 * 3_600_000;
  const b = now - 2 * 3_600_000;
  const project = join(env.CLAUDE_CONFIG_DIR!, "projects", claudeProjectDir(shop));
  mkdirSync(project, { recursive: true });
  const base = { cwd: shop, sessionId: SESSION, version: "2.0.14" };
  const lines: object[] = [
    [a, 10_000, 5_000],
    [b, 1_000, 500],
  ].flatMap(([at, input, output], i) => [
    { ...base, type: "user", timestamp: new Date(at! - 1000).toISOString(), message: { role: "user", content: "go" } },
    { ...base, type: "assistant", timestamp: new Date(at!).toISOString(), requestId: `req_${i}`, message: { id: `msg_${i}`, model: "claude-sonnet-4-5-20250929", role: "assistant", content: [{ type: "text", text: "ok" }], stop_reason: "end_turn", usage: { input_tokens: input, output_tokens: output } } },
  ]);
  const agent: ChildProcess = spawn(join(bin, "claude"), ["300"], { cwd: shop, stdio: "ignore", env });
  t.after(() => agent.kill("SIGKILL"));
  await new Promise((r) => setTimeout(r, 100));
  // the session goes on in this process (a resumed session): its last event is after the process started
  lines.push({ ...base, type: "user", timestamp: new Date().toISOString(), message: { role: "user", content: "and now the invoices" } });
  writeFileSync(join(project, `${SESSION}.jsonl`), lines.map((l) => JSON.stringify(l)).join("\n") + "\n");
  await registerAgent(home, { pid: agent.pid!, name: "billing-bot", provider: "claude-code" });

  const url = await startWeb(t, env);
  const browser = await launchBrowser();
  t.after(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 }, timezoneId: "UTC" });
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(url);
  const row = `#fleet-table tr[data-pid="${agent.pid}"]`;
  await page.waitForSelector(row, { timeout: WAIT_MS });
  await page.click(`${row} td.name`);
  const caption = (id: string) => document.querySelector(`[data-chart="${id}"] .caption`)?.textContent ?? "";
  // the live hour: this agent did nothing in it
  await page.waitForFunction(() => document.querySelector("#charts")?.getAttribute("data-range") === "hour", null, { timeout: WAIT_MS });
  await page.waitForFunction(() => /^peak 0 at \d\d:\d\d:\d\d · 60 points$/.test(document.querySelector('[data-chart="tokens"] .caption')?.textContent ?? ""), null, { timeout: WAIT_MS });

  const utc = (ms: number) => new Date(ms).toISOString().slice(11, 19);
  const step = (ms: number, size: number) => Math.floor(ms / size) * size;
  // day: 5-minute steps; 15,000 tokens in one of them is 3.0k a minute
  await page.click('.ranges button[data-range="day"]');
  const dayCaption = `peak 3.0k at ${utc(step(a, 300_000))} · `;
  await page.waitForFunction(
    ([want]) => document.querySelector("#charts")?.getAttribute("data-source") === "store" && (document.querySelector('[data-chart="tokens"] .caption')?.textContent ?? "").startsWith(want!),
    [dayCaption],
    { timeout: 60_000 },
  );
  assert.match(await page.evaluate(caption, "tokens"), /^peak 3\.0k at \d\d:\d\d:\d\d · 28[89] points$/);
  assert.match(await page.evaluate(caption, "usd"), new RegExp(`^peak \\$1\\.260 at ${utc(step(a, 300_000))} · 28[89] points$`));
  assert.equal(await page.locator('[data-chart="tokens"] canvas').count(), 1);
  assert.equal(await page.isHidden("#series-note"), true);
  await page.screenshot({ path: artefact("dashboard-day.png"), fullPage: true });

  // week: 30-minute steps
  await page.click('.ranges button[data-range="week"]');
  await page.waitForFunction(() => document.querySelector("#charts")?.getAttribute("data-range") === "week", null, { timeout: WAIT_MS });
  assert.match(await page.evaluate(caption, "tokens"), new RegExp(`^peak 500 at ${utc(step(a, 1_800_000))} · 33[67] points$`));
  assert.deepEqual(errors, []);
});
