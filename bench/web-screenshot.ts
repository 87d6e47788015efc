import { resolve } from "node:path";
import { chromium } from "playwright-core";
import { closePublishers, publish } from "../src/bus/index.js";
import { startWebServer } from "../src/web/server.js";
import { demoFleet } from "./web-demo.js";

/**
 * `npm run screenshot:web [-- FILE]`: the README's picture of the dashboard, taken from a demo fleet
 * (bench/web-demo.ts) in Debian's Chromium. Default file: docs/web-dashboard.png.
 */
// what the functions evaluated in the page touch (compiled without the DOM's types)
declare const document: { querySelectorAll(s: string): { length: number }; querySelector(s: string): { textContent: string | null } | null };

const out = resolve(process.argv[2] ?? "docs/web-dashboard.png");
const fleet = await demoFleet(6, { slos: true, incidents: true });
const server = await startWebServer({ home: fleet.home, env: fleet.env, host: "127.0.0.1", port: 0, intervalMs: 2000 });
const browser = await chromium.launch({ executablePath: process.env.OPENSRE_CHROMIUM || "/usr/bin/chromium", args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"] });
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 }, deviceScaleFactor: 1 });
  page.on("pageerror", (e) => process.stderr.write(`page error: ${e.message}\n`));
  page.on("console", (m) => process.stderr.write(`console: ${m.text()}\n`));
  await page.goto(server.url);
  await page.waitForSelector("body[data-seq]");
  await page.waitForFunction(() => document.querySelector("#bus-state")?.textContent === "subscribed", null, { timeout: 60_000 });
  const socket = resolve(fleet.home, "agents-bus.sock");
  const a = fleet.agents;
  await publish({ agent: `${a[0]!.name}:${a[0]!.pid}`, topic: "finding", summary: "token cache races the clock in the login test; pinning time", path: "src/auth/session.ts:88" }, { path: socket });
  await publish({ agent: `${a[2]!.name}:${a[2]!.pid}`, topic: "finding", summary: "529 overloaded from the API for 3 of the last 12 requests", path: "" }, { path: socket });
  await publish({ agent: `${a[1]!.name}:${a[1]!.pid}`, topic: "finding", summary: "README example for /agents web updated", path: "README.md" }, { path: socket });
  await page.waitForFunction(() => document.querySelectorAll("#bus-tail li[data-seq]").length >= 3);
  await page.click(`#fleet-table tr[data-pid="${a[0]!.pid}"] td.name`);
  await page.waitForFunction(() => /points/.test(document.querySelector('[data-chart="tokens"] .caption')?.textContent ?? "")).catch(async (e: Error) => {
    process.stderr.write(`charts: ${await page.textContent("#agent")}\n`);
    throw e;
  });
  await page.waitForTimeout(500);
  await page.screenshot({ path: out, fullPage: true });
  process.stdout.write(`wrote ${out}\n`);
} finally {
  await browser.close();
  await closePublishers();
  await server.close();
  fleet.close();
}
