import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { readIncidents, findIncident } from "../slo/incidents.js";
import { TerminalFilter } from "../term/sanitize.js";
import { incidentAction, killCheck, killConfirmed, type ActionResult } from "./actions.js";
import { BusTail } from "./bus-tail.js";
import { pageHtml } from "./page.js";
import { RANGES, type BusLine, type Range, type WebState } from "./protocol.js";
import { allowedHosts, checkActionToken, checkOrigin, checkReadToken, newToken, REFUSED, SECURITY_HEADERS, urlHost, type Refusal } from "./security.js";
import { WebFleet, type HistorySource } from "./live.js";

/** Pages open on the live stream at once; past this, another is refused (each costs a socket and a copy of every refresh). */
export const MAX_EVENT_CLIENTS = 16;
/** A page that cannot keep up (a sleeping tab behind a stalled socket) is dropped past this much unsent data; it reconnects. */
export const MAX_PENDING_BYTES = 4 * 1024 * 1024;
/** An action's JSON body is a few fields. */
export const MAX_BODY_BYTES = 4096;
/** A comment line on the stream this often, so a dead page is noticed (and a proxy keeps it open). */
export const HEARTBEAT_MS = 15_000;
/** A request's headers must arrive within this long (slow-loris bound). */
export const HEADERS_TIMEOUT_MS = 10_000;

export interface WebServerOptions {
  home: string;
  env: NodeJS.ProcessEnv;
  host: string;
  port: number;
  intervalMs: number;
  /** A fixed token (tests); a random one otherwise. */
  token?: string;
  history?: HistorySource | null;
  /** Subscribe to the local bus (default true). */
  bus?: boolean;
}

export interface RunningWebServer {
  /** `http://127.0.0.1:7464/?token=…` */
  url: string;
  port: number;
  token: string;
  fleet: WebFleet;
  close(): Promise<void>;
}

interface Assets {
  js: Buffer | null;
  css: Buffer | null;
}

/** The page's script and styles, built into `assets/` next to this module (`npm run build`). */
function loadAssets(): Assets {
  const read = (name: string) => {
    try {
      return readFileSync(new URL(`./assets/${name}`, import.meta.url));
    } catch {
      return null;
    }
  };
  return { js: read("app.js"), css: read("app.css") };
}

function send(res: ServerResponse, status: number, type: string, body: string | Buffer, extra: Record<string, string> = {}): void {
  res.writeHead(status, { ...SECURITY_HEADERS, "content-type": type, "content-length": String(Buffer.byteLength(body)), ...extra });
  res.end(body);
}

function refuse(res: ServerResponse, r: Refusal): void {
  send(res, r.status, "text/plain; charset=utf-8", r.message + "\n", r.allow ? { allow: r.allow } : {});
}

function json(res: ServerResponse, status: number, value: unknown): void {
  send(res, status, "application/json; charset=utf-8", JSON.stringify(value));
}

function readBody(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        req.removeAllListeners("data");
        req.pause();
        reject(Object.assign(new Error(`request body over ${MAX_BODY_BYTES} bytes`), { status: 413 }));
      } else chunks.push(c);
    });
    req.on("end", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      try {
        resolve(text.trim() ? JSON.parse(text) : {});
      } catch {
        reject(new Error("request body is not JSON"));
      }
    });
    req.on("error", reject);
  });
}

/** Evidence for the page: the trace filter's output (no control sequence but colours), then colours removed too. */
export function evidenceText(output: string): string {
  // eslint-disable-next-line no-control-regex
  return new TerminalFilter().push(output).replace(/\x1b\[[0-9;:]*m/g, "");
}

/**
 * `opensre agents web`: one page, its two assets, a live event stream and a few JSON
 * endpoints, with the security model of `security.ts` in front of every route.
 */
export async function startWebServer(opts: WebServerOptions): Promise<RunningWebServer> {
  const token = opts.token ?? newToken();
  const assets = loadAssets();
  const stop = new AbortController();
  const clients = new Set<ServerResponse>();
  let bus: BusTail | null = null;
  const fleet = new WebFleet({ home: opts.home, env: opts.env, intervalMs: opts.intervalMs, history: opts.history ?? null, bus: () => bus?.info() ?? { connected: false, message: "not subscribed to the bus" } });

  let stateFrame = "";
  const broadcast = (frame: string) => {
    for (const res of clients) {
      if (res.writableLength > MAX_PENDING_BYTES) {
        res.destroy();
        clients.delete(res);
        continue;
      }
      res.write(frame);
    }
  };
  fleet.onState((s: WebState) => {
    stateFrame = `event: state\ndata: ${JSON.stringify(s)}\n\n`;
    broadcast(stateFrame);
  });
  if (opts.bus !== false) {
    bus = new BusTail(opts.home, (line: BusLine) => broadcast(`event: bus\ndata: ${JSON.stringify(line)}\n\n`));
  }

  let hosts = new Set<string>();
  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) send(res, 500, "text/plain; charset=utf-8", `internal error: ${(err as Error).message}\n`);
      else res.destroy();
    });
  });
  server.headersTimeout = HEADERS_TIMEOUT_MS;
  server.requestTimeout = HEADERS_TIMEOUT_MS * 2;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const bad = checkOrigin(req, hosts);
    if (bad) return refuse(res, bad);
    const url = new URL(req.url ?? "/", "http://localhost");
    const path = url.pathname;
    const method = req.method ?? "GET";
    if (method === "POST") {
      const denied = checkActionToken(req, token);
      if (denied) return refuse(res, denied);
      let body: Record<string, unknown>;
      try {
        const b = await readBody(req);
        if (typeof b !== "object" || b === null || Array.isArray(b)) throw new Error("request body must be a JSON object");
        body = b as Record<string, unknown>;
      } catch (err) {
        const status = (err as { status?: number }).status ?? 400;
        if (status === 413) res.on("finish", () => req.destroy()); // the rest of the body is not read
        res.setHeader("connection", "close");
        return json(res, status, { ok: false, message: (err as Error).message });
      }
      return post(path, body, res);
    }
    if (method !== "GET" && method !== "HEAD") return refuse(res, { status: 405, message: REFUSED.method, allow: "GET, HEAD, POST" });
    const denied = checkReadToken(req, url, token);
    if (denied) return refuse(res, denied);
    if (path === "/") return send(res, 200, "text/html; charset=utf-8", pageHtml(token));
    if (path === "/assets/app.js" || path === "/assets/app.css") {
      const body = path.endsWith(".js") ? assets.js : assets.css;
      if (!body) return send(res, 404, "text/plain; charset=utf-8", "the dashboard's page was not built: run npm run build\n");
      return send(res, 200, path.endsWith(".js") ? "text/javascript; charset=utf-8" : "text/css; charset=utf-8", body);
    }
    if (path === "/events") return events(res);
    if (path === "/api/state") return json(res, 200, fleet.current());
    if (path === "/api/bus") return json(res, 200, bus?.tail() ?? []);
    if (path === "/api/series") {
      const range = url.searchParams.get("range") ?? "hour";
      if (!(RANGES as readonly string[]).includes(range)) return json(res, 400, { ok: false, message: `invalid range: ${range} (hour, day or week)` });
      const s = fleet.seriesFor(url.searchParams.get("agent") ?? "", range as Range);
      return typeof s === "string" ? json(res, 404, { ok: false, message: s }) : json(res, 200, s);
    }
    const m = /^\/api\/incidents\/([^/]+)$/.exec(path);
    if (m) {
      const found = findIncident(readIncidents(opts.home).incidents, decodeURIComponent(m[1]!));
      if (typeof found === "string") return json(res, 404, { ok: false, message: found });
      return json(res, 200, { ...found, evidence: { ...found.evidence, output: evidenceText(found.evidence?.output ?? "") } });
    }
    return send(res, 404, "text/plain; charset=utf-8", "not found\n");
  }

  async function post(path: string, body: Record<string, unknown>, res: ServerResponse): Promise<void> {
    let r: ActionResult & { question?: string };
    const inc = /^\/api\/incidents\/([^/]+)\/(ack|resolve)$/.exec(path);
    const kill = /^\/api\/agents\/(\d+)\/(kill-check|kill)$/.exec(path);
    if (inc) r = await incidentAction(opts.home, decodeURIComponent(inc[1]!), inc[2] as "ack" | "resolve");
    else if (kill) {
      const pid = Number(kill[1]);
      const startTime = typeof body.startTime === "number" ? body.startTime : null;
      r = kill[2] === "kill-check" ? killCheck(opts.home, pid, startTime) : await killConfirmed(opts.home, pid, startTime, body.confirm === true);
    } else return send(res, 404, "text/plain; charset=utf-8", "not found\n");
    if (r.ok && !path.endsWith("kill-check")) fleet.republish();
    return json(res, r.status, { ok: r.ok, message: r.message, ...(r.question ? { question: r.question } : {}) });
  }

  function events(res: ServerResponse): void {
    if (clients.size >= MAX_EVENT_CLIENTS) return send(res, 503, "text/plain; charset=utf-8", `too many open dashboards (at most ${MAX_EVENT_CLIENTS}); close one\n`);
    res.writeHead(200, { ...SECURITY_HEADERS, "content-type": "text/event-stream; charset=utf-8", connection: "keep-alive" });
    res.write("retry: 2000\n\n");
    if (stateFrame) res.write(stateFrame);
    res.write(`event: bus-tail\ndata: ${JSON.stringify(bus?.tail() ?? [])}\n\n`);
    clients.add(res);
    res.on("close", () => clients.delete(res));
  }

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  hosts = allowedHosts(opts.host, port);
  const heartbeat = setInterval(() => broadcast(": keep-alive\n\n"), HEARTBEAT_MS);
  heartbeat.unref();
  bus?.start();
  await fleet.refresh();
  const loop = fleet.run(stop.signal);
  const shown = opts.host === "0.0.0.0" || opts.host === "::" ? "127.0.0.1" : opts.host;
  return {
    url: `http://${urlHost(shown)}:${port}/?token=${token}`,
    port,
    token,
    fleet,
    async close() {
      stop.abort();
      clearInterval(heartbeat);
      for (const res of clients) res.end();
      clients.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await loop;
      await bus?.close();
      opts.history?.close();
    },
  };
}
