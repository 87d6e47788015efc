import { test } from "node:test";
import assert from "node:assert/strict";
import { request } from "node:http";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { isolatedEnv, REPO_ROOT, tempDir } from "../helpers/env.js";
import { startWebServer, MAX_BODY_BYTES, MAX_EVENT_CLIENTS, type RunningWebServer } from "../../src/web/server.js";
import { REFUSED, allowedHosts, tokenMatches, newToken } from "../../src/web/security.js";
import { withIncidents, openEvent, readIncidents, type Incident } from "../../src/slo/incidents.js";
import { LiveSeries, LIVE_MINUTES, MAX_LIVE_AGENTS } from "../../src/web/live-series.js";
import type { FleetAgent } from "../../src/fleet/model.js";

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function call(port: number, path: string, opts: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, method: opts.method ?? "GET", headers: { host: `127.0.0.1:${port}`, ...opts.headers } }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => {
        body += d;
        // an event stream never ends: its first frames are enough
        if (String(res.headers["content-type"]).startsWith("text/event-stream") && body.includes("event: bus-tail")) {
          res.destroy();
          resolve({ status: res.statusCode!, headers: res.headers, body });
        }
      });
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(opts.body);
  });
}

async function server(t: { after: (f: () => Promise<void> | void) => void }): Promise<{ s: RunningWebServer; home: string }> {
  const dir = tempDir();
  t.after(dir.cleanup);
  const home = join(dir.path, "home");
  const s = await startWebServer({ home, env: isolatedEnv(home), host: "127.0.0.1", port: 0, intervalMs: 60_000, token: "t0ken-for-tests-0123456789abcdef", bus: false });
  t.after(() => s.close());
  return { s, home };
}

const incident = (over: Partial<Incident> = {}): Incident => ({
  id: "abcd1234",
  agent: "claude-code",
  pid: 999_999,
  start_time: null,
  provider: "claude-code",
  slo: "cost",
  detail: "$6.00/h projected",
  opened_at: new Date().toISOString(),
  acked_at: null,
  resolved_at: null,
  resolution: null,
  kills: [],
  evidence: { source: null, output: "", resources: { uptimeSec: 1, cpuPct: null, rssBytes: null, children: null }, signals: { status: "active", lastOutputAt: null, tokensPerMin: null, usdPerHour: null, spendLastHourUsd: null, errorRatePct: null, model: null } },
  ...over,
});

test("every request needs the token; the page, its assets and the stream load with it", async (t) => {
  const { s } = await server(t);
  const tok = `token=${s.token}`;
  for (const path of ["/", "/assets/app.js", "/assets/app.css", "/api/state", "/events", "/api/bus", "/nope"]) {
    const r = await call(s.port, path);
    assert.equal(r.status, 401, path);
    assert.equal(r.body, REFUSED.token + "\n");
    const wrong = await call(s.port, `${path}?token=${s.token.slice(0, -1)}x`);
    assert.equal(wrong.status, 401, path);
  }
  const page = await call(s.port, `/?${tok}`);
  assert.equal(page.status, 200);
  assert.match(String(page.headers["content-type"]), /^text\/html/);
  assert.match(page.body, new RegExp(`<script defer src="/assets/app.js\\?token=${s.token}"></script>`));
  const js = await call(s.port, `/assets/app.js?${tok}`);
  assert.equal(js.status, 200, "the page's script is built into the package (npm run build)");
  assert.match(String(js.headers["content-type"]), /^text\/javascript/);
  assert.ok(js.body.length > 40_000, "uPlot is bundled into the script");
  assert.equal((await call(s.port, `/assets/app.css?${tok}`)).status, 200);
  const ev = await call(s.port, `/events?${tok}`);
  assert.equal(ev.status, 200);
  assert.match(ev.body, /event: state\ndata: \{"seq":1,/);
  const state = await call(s.port, "/api/state", { headers: { "x-opensre-token": s.token } });
  assert.equal(state.status, 200, "the header carries the token too");
});

test("DNS rebinding and cross-site requests are refused; no CORS; security headers on every response", async (t) => {
  const { s } = await server(t);
  const tok = `token=${s.token}`;
  const host = await call(s.port, `/?${tok}`, { headers: { host: `evil.example:${s.port}` } });
  assert.equal(host.status, 403);
  assert.equal(host.body, REFUSED.host + "\n");
  assert.equal((await call(s.port, `/?${tok}`, { headers: { host: `127.0.0.1:${s.port + 1}` } })).status, 403, "another port is another origin");
  for (const h of [`localhost:${s.port}`, `[::1]:${s.port}`, `LOCALHOST:${s.port}`]) assert.equal((await call(s.port, `/?${tok}`, { headers: { host: h } })).status, 200, h);
  const origin = await call(s.port, `/api/state?${tok}`, { headers: { origin: "http://evil.example" } });
  assert.equal(origin.status, 403);
  assert.equal(origin.body, REFUSED.origin + "\n");
  assert.equal((await call(s.port, `/api/state?${tok}`, { headers: { origin: `http://127.0.0.1:${s.port}` } })).status, 200);
  assert.equal((await call(s.port, `/api/state?${tok}`, { headers: { "sec-fetch-site": "cross-site" } })).status, 403);
  const pre = await call(s.port, `/api/incidents/x/ack?${tok}`, { method: "OPTIONS", headers: { origin: `http://127.0.0.1:${s.port}`, "access-control-request-method": "POST" } });
  assert.equal(pre.status, 405);
  for (const r of [host, origin, pre, await call(s.port, `/?${tok}`)]) {
    assert.equal(Object.keys(r.headers).filter((k) => k.startsWith("access-control-")).length, 0, "no CORS header, ever");
    assert.equal(r.headers["x-frame-options"], "DENY");
    assert.equal(r.headers["x-content-type-options"], "nosniff");
    assert.equal(r.headers["referrer-policy"], "no-referrer");
    assert.match(String(r.headers["content-security-policy"]), /default-src 'none'; script-src 'self'/);
  }
});

test("actions only by POST with the token in the header and a JSON body; the CLI's guards and words", async (t) => {
  const { s, home } = await server(t);
  await withIncidents(home, () => ({ result: undefined, events: [openEvent(incident())] }));
  const path = "/api/incidents/abcd1234/ack";
  const json = { "content-type": "application/json" };
  assert.equal((await call(s.port, `${path}?token=${s.token}`)).status, 404, "a GET acts on nothing");
  const inQuery = await call(s.port, `${path}?token=${s.token}`, { method: "POST", headers: json, body: "{}" });
  assert.equal(inQuery.status, 401, "the token in the URL is not enough for an action");
  assert.equal(inQuery.body, REFUSED.actionToken + "\n");
  const form = await call(s.port, path, { method: "POST", headers: { "x-opensre-token": s.token, "content-type": "application/x-www-form-urlencoded" }, body: "a=1" });
  assert.equal(form.status, 415, "a cross-site form cannot post");
  const big = await call(s.port, path, { method: "POST", headers: { "x-opensre-token": s.token, ...json }, body: JSON.stringify({ pad: "x".repeat(MAX_BODY_BYTES) }) }).catch(() => ({ status: 413 }) as Reply);
  assert.equal(big.status, 413);
  assert.equal(readIncidents(home).incidents[0]!.acked_at, null, "nothing refused changed the store");

  const post = (p: string, body: unknown = {}) => call(s.port, p, { method: "POST", headers: { "x-opensre-token": s.token, ...json }, body: JSON.stringify(body) });
  const ack = await post(path);
  assert.equal(ack.status, 200);
  assert.deepEqual(JSON.parse(ack.body), { ok: true, message: "acknowledged abcd1234" });
  assert.deepEqual(JSON.parse((await post(path)).body), { ok: true, message: "incident abcd1234 was already acknowledged" });
  assert.deepEqual(JSON.parse((await post("/api/incidents/abcd/resolve")).body), { ok: true, message: "resolved abcd1234" });
  const again = await post("/api/incidents/abcd1234/resolve");
  assert.equal(again.status, 409);
  assert.deepEqual(JSON.parse(again.body), { ok: false, message: "incident abcd1234 is already resolved" });
  assert.equal((await post("/api/incidents/ffff9999/ack")).status, 404);
  assert.equal(JSON.parse((await post("/api/incidents/ffff9999/ack")).body).message, "no such incident: ffff9999");
  const state = JSON.parse((await call(s.port, `/api/state?token=${s.token}`)).body) as { incidents: Incident[] };
  assert.ok(state.incidents[0]!.resolved_at, "the page's state shows the change at once");

  const self = await post(`/api/agents/${process.pid}/kill-check`);
  assert.deepEqual(JSON.parse(self.body), { ok: false, message: "refusing to kill the opensre process itself" });
  assert.deepEqual(JSON.parse((await post("/api/agents/999999/kill-check")).body), { ok: false, message: "no such process: pid 999999" });
  const unconfirmed = await post("/api/agents/999999/kill", {});
  assert.equal(unconfirmed.status, 400);
  assert.match(JSON.parse(unconfirmed.body).message, /^kill needs confirmation/);
});

test("event streams are bounded: past MAX_EVENT_CLIENTS another page is refused", async (t) => {
  const { s } = await server(t);
  const open: import("node:http").ClientRequest[] = [];
  t.after(() => open.forEach((r) => r.destroy()));
  for (let i = 0; i < MAX_EVENT_CLIENTS; i++) {
    await new Promise<void>((resolve, reject) => {
      const req = request({ host: "127.0.0.1", port: s.port, path: `/events?token=${s.token}`, headers: { host: `127.0.0.1:${s.port}` } }, (res) => {
        assert.equal(res.statusCode, 200);
        res.once("data", () => resolve());
      });
      req.on("error", reject);
      req.end();
      open.push(req);
    });
  }
  const more = await call(s.port, `/api/state?token=${s.token}`);
  assert.equal(more.status, 200, "reads still work");
  const refused = await call(s.port, `/events?token=${s.token}`);
  assert.equal(refused.status, 503);
  assert.equal(refused.body, `too many open dashboards (at most ${MAX_EVENT_CLIENTS}); close one\n`);
});

test("tokens: random, 32 characters, compared whole; Host names: loopback and the bound address", () => {
  const a = newToken();
  assert.match(a, /^[A-Za-z0-9_-]{32}$/);
  assert.notEqual(a, newToken());
  assert.ok(tokenMatches(a, a));
  assert.ok(!tokenMatches(a.slice(0, 31), a));
  assert.ok(!tokenMatches(undefined, a));
  assert.deepEqual([...allowedHosts("127.0.0.1", 7464)].sort(), ["127.0.0.1:7464", "[::1]:7464", "localhost:7464"]);
  assert.ok(allowedHosts("::1", 80).has("[::1]:80"));
  assert.ok(allowedHosts("192.0.2.7", 80).has("192.0.2.7:80"));
});

test("the page's script never assigns HTML: every field goes in as text", () => {
  const dir = join(REPO_ROOT, "src", "web", "client");
  for (const f of readdirSync(dir).filter((x) => x.endsWith(".ts"))) {
    const src = readFileSync(join(dir, f), "utf8").replace(/\/\/.*$|\/\*[\s\S]*?\*\//gm, "");
    for (const sink of ["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "srcdoc", "DOMParser", "createContextualFragment", "eval(", "new Function"]) {
      assert.ok(!src.includes(sink), `${f} uses ${sink}`);
    }
  }
});

test("the live hour is bounded: LIVE_MINUTES a agent, MAX_LIVE_AGENTS agents", () => {
  const series = new LiveSeries();
  const agent = (pid: number): FleetAgent => ({
    name: "a",
    pid,
    provider: "claude-code",
    source: "discovered",
    confidence: 1,
    reason: "",
    command: "",
    cwd: null,
    startTime: 1,
    resource: { uptimeSec: 1, cpuPct: 5, rssBytes: 1 << 20, children: 0 },
    transcript: null,
    lastOutputAt: null,
    stdoutPath: null,
    status: "idle",
    openIncidents: [],
  });
  const t0 = 1_000 * 60_000;
  for (let m = 0; m < LIVE_MINUTES * 2; m++) series.record({ takenAt: t0 + m * 60_000, agents: [agent(1)], warnings: [] });
  const s = series.series(agent(1), t0 + (LIVE_MINUTES * 2 - 1) * 60_000);
  assert.equal(s.t.length, LIVE_MINUTES);
  assert.equal(s.cpuPct.filter((v) => v === 5).length, LIVE_MINUTES);
  const many = Array.from({ length: MAX_LIVE_AGENTS + 50 }, (_, i) => agent(i + 10));
  series.record({ takenAt: t0 + LIVE_MINUTES * 2 * 60_000, agents: many, warnings: [] });
  assert.equal(series.size, MAX_LIVE_AGENTS);
});
