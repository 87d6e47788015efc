import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type Browser } from "playwright-core";
import { demoFleet } from "./web-demo.js";

/**
 * The web dashboard with 50 agents (fake Claude Code processes with an hour of transcript each,
 * SLOs, incidents, a conflict):
 * - the page's first paint and the time until the fleet table is filled from the stream, in
 *   Debian's Chromium, against a bare page from a bare node server in the same run;
 * - the server's CPU over 30 s at the default 2 s refresh, with no page and with one page open,
 *   against the terminal's live refresh (`opensre agents --watch --json`, the same collector) in
 *   the same run. The server also keeps the history store current (one update every 30 s, so one
 *   in each window); its first update, the backfill of the 50 transcripts, ends before measuring.
 */
const here = dirname(fileURLToPath(import.meta.url));
const CLI = join(here, "..", "src", "cli.js");
const out = (s: string) => process.stdout.write(s + "\n");
/** One history update (every 30 s) falls in each window of the web server. */
const WINDOW_MS = 30_000;

// what the functions evaluated in the page touch (compiled without the DOM's types)
declare const document: { querySelectorAll(s: string): { length: number } };
declare const performance: { getEntriesByName(n: string): { startTime: number }[]; now(): number };

/** utime + stime of a process, ms. */
function cpuOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // USER_HZ is 100 on Linux
}

async function cpuOver(pid: number, ms: number): Promise<number> {
  const c0 = cpuOf(pid);
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, ms));
  return (100 * (cpuOf(pid) - c0)) / (performance.now() - t0);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function paint(browser: Browser, url: string, filled: boolean): Promise<{ fcp: number; filled: number | null }> {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  try {
    await page.goto(url);
    await page.waitForFunction(() => performance.getEntriesByName("first-contentful-paint").length > 0);
    let done: number | null = null;
    if (filled) {
      await page.waitForFunction(() => document.querySelectorAll("#fleet-table tr[data-pid]").length >= 50, null, { timeout: 60_000 });
      done = await page.evaluate(() => performance.now());
    }
    const fcp = await page.evaluate(() => performance.getEntriesByName("first-contentful-paint")[0]!.startTime);
    return { fcp, filled: done };
  } finally {
    await page.close();
  }
}

export default async function (): Promise<void> {
  const fleet = await demoFleet(50, { slos: true, incidents: true });
  const kids: import("node:child_process").ChildProcess[] = [];
  const bare = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "text/html" });
    res.end("<!doctype html><title>bare</title><h1>bare page</h1>");
  });
  let browser: Browser | null = null;
  try {
    // the terminal's live refresh, same collector, same interval
    const watch = spawn(process.execPath, [CLI, "agents", "--watch", "--json", "--interval", "2"], { env: fleet.env, stdio: ["ignore", "ignore", "ignore"] });
    kids.push(watch);
    await new Promise((r) => setTimeout(r, 3000)); // past the first refresh
    const watchCpu = await cpuOver(watch.pid!, WINDOW_MS);
    watch.kill("SIGKILL");

    const web = spawn(process.execPath, [CLI, "agents", "web", "--port", "0"], { env: fleet.env, stdio: ["ignore", "pipe", "inherit"] });
    kids.push(web);
    let text = "";
    web.stdout!.setEncoding("utf8").on("data", (d: string) => (text += d));
    while (!/dashboard on (\S+)/.test(text)) await new Promise((r) => setTimeout(r, 50));
    const url = /dashboard on (\S+)/.exec(text)![1]!;
    const stateUrl = url.replace("/?", "/api/state?");
    const t0 = Date.now();
    for (;;) {
      const h = ((await (await fetch(stateUrl)).json()) as { history: { available: boolean; updatedAt: number | null } } | null)?.history;
      if (h && (!h.available || h.updatedAt !== null)) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const backfillS = (Date.now() - t0) / 1000;
    await new Promise((r) => setTimeout(r, 3000));
    const idleCpu = await cpuOver(web.pid!, WINDOW_MS);

    browser = await chromium.launch({ executablePath: process.env.OPENSRE_CHROMIUM || "/usr/bin/chromium", args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"] });
    await new Promise<void>((r) => bare.listen(0, "127.0.0.1", () => r()));
    const bareUrl = `http://127.0.0.1:${(bare.address() as AddressInfo).port}/`;
    await paint(browser, bareUrl, false); // warm the browser
    const bareRuns: number[] = [];
    const webRuns: number[] = [];
    const filledRuns: number[] = [];
    for (let i = 0; i < 5; i++) {
      bareRuns.push((await paint(browser, bareUrl, false)).fcp);
      const p = await paint(browser, url, true);
      webRuns.push(p.fcp);
      filledRuns.push(p.filled!);
    }
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    await page.goto(url);
    await page.waitForFunction(() => document.querySelectorAll("#fleet-table tr[data-pid]").length >= 50, null, { timeout: 60_000 });
    const openCpu = await cpuOver(web.pid!, WINDOW_MS);
    const state = await (await fetch(stateUrl)).text();
    const history = (JSON.parse(state) as { history: { available: boolean; message: string | null } }).history;

    out(`50 agents, refresh every 2 s, CPU over ${WINDOW_MS / 1000} s (% of one core):`);
    out(`  terminal live refresh (agents --watch --json)   ${watchCpu.toFixed(1)}%   baseline`);
    out(`  web server, no page open                        ${idleCpu.toFixed(1)}%`);
    out(`  web server, one page open                       ${openCpu.toFixed(1)}%   (state ${Math.round(state.length / 1024)} KiB a refresh)`);
    out(history.available ? `  (history store kept current by the server; its first update, the backfill, took ${backfillS.toFixed(1)} s)` : `  (without the history store: ${history.message?.split("\n")[0]})`);
    const key = (JSON.parse(state) as { agents: { key: string }[] }).agents[0]!.key;
    const timed = async (u: string) => {
      const runs: number[] = [];
      for (let i = 0; i < 5; i++) {
        const t = performance.now();
        await (await fetch(u)).text();
        runs.push(performance.now() - t);
      }
      return median(runs).toFixed(1);
    };
    const seriesUrl = (range: string) => url.replace("/?", `/api/series?agent=${encodeURIComponent(key)}&range=${range}&`);
    out(`one agent's charts, GET /api/series, median of 5:`);
    out(`  GET /api/state (the whole fleet, from memory)   ${await timed(stateUrl)} ms   baseline`);
    out(`  live hour (memory)                              ${await timed(seriesUrl("hour"))} ms`);
    out(`  day (history store)                             ${await timed(seriesUrl("day"))} ms`);
    out(`  week (history store)                            ${await timed(seriesUrl("week"))} ms`);
    out(`first paint in Chromium, median of 5:`);
    out(`  bare page from a bare node server               ${median(bareRuns).toFixed(0)} ms   baseline`);
    out(`  dashboard page                                  ${median(webRuns).toFixed(0)} ms`);
    out(`  dashboard table filled with 50 agents           ${median(filledRuns).toFixed(0)} ms`);
  } finally {
    await browser?.close();
    bare.close();
    for (const k of kids) k.kill("SIGKILL");
    fleet.close();
  }
}
