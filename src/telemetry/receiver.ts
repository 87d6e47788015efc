import { randomBytes, timingSafeEqual } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { endianness } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { gunzip } from "node:zlib";
import { writeFileAtomicSync } from "../util/atomic.js";
import { ensureHome } from "../util/home.js";
import { guardConnections, type ConnectionGuard } from "./connections.js";
import { logsToEvents, type TelemetryEvent } from "./events.js";
import { decodeOtlp, mediaType, OtlpDecodeError, type LogsRequest, type MetricsRequest, type Signal } from "./otlp.js";

const gunzipAsync = promisify(gunzip);

/** Largest request body accepted (also after decompression): OTLP batches are far smaller. */
export const MAX_BODY_BYTES = 4 * 1024 * 1024;
/** An event stamped further ahead than this is refused: clocks on one machine agree within seconds. */
export const MAX_CLOCK_SKEW_MS = 5 * 60_000;
/** An event older than this is refused: agents export within seconds; the windows look back one hour. */
export const MAX_EVENT_AGE_MS = 24 * 3600_000;
/** The per-home token file agents present (`OTEL_EXPORTER_OTLP_HEADERS=Authorization=Bearer%20<token>`). */
export const TOKEN_FILE = "telemetry-token";

export interface ReceiverStats {
  /** `"<signal> <result>"` → requests; result `accepted` or the reason of the refusal. */
  requests: Map<string, number>;
  /** Log records by result: used, ignored, bad_timestamp, foreign_pid. */
  records: Record<string, number>;
  readonly connections: number;
}

export interface ReceiverOptions {
  port: number;
  /** Bind address; default loopback. */
  host?: string;
  /** Accept clients that are not on loopback (they must present the token). */
  allowRemote?: boolean;
  /** The per-home token; a client presenting it is accepted. */
  token?: string;
  /** Our uid; a loopback client whose socket belongs to it is accepted without the token (Linux). Default: this process's. */
  uid?: number;
  now?: () => number;
  onEvents(events: TelemetryEvent[]): void;
  onMetrics?(req: MetricsRequest): void;
}

export function isLoopback(addr: string | undefined): boolean {
  if (!addr) return false;
  return addr === "::1" || addr.startsWith("127.") || addr.startsWith("::ffff:127.");
}

/** The home's receiver token, created (0600) on first use. */
export function receiverToken(home: string): string {
  const path = join(home, TOKEN_FILE);
  try {
    const t = readFileSync(path, "utf8").trim();
    if (/^[0-9a-f]{32,}$/.test(t)) return t;
  } catch {
    /* created below */
  }
  const t = randomBytes(24).toString("hex");
  ensureHome(home); // a new user's first command may be this one
  writeFileAtomicSync(path, t + "\n", 0o600);
  return t;
}

function hexAddr(hex: string): string {
  const le = endianness() === "LE";
  const bytes: number[] = [];
  for (let w = 0; w < hex.length; w += 8) {
    const word = [0, 2, 4, 6].map((i) => parseInt(hex.slice(w + i, w + i + 2), 16));
    bytes.push(...(le ? word.reverse() : word));
  }
  if (bytes.length === 4) return bytes.join(".");
  if (bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff) return `::ffff:${bytes.slice(12).join(".")}`;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
  return groups.join(":").replace(/(^|:)0(:0)+(:|$)/, "::");
}

/**
 * The uid owning the client end of a loopback TCP connection, from /proc/net/tcp{,6}
 * (Linux): the line whose local end is the client's address and port and whose remote end
 * is ours. null when it cannot be told (another OS, the line gone).
 */
export function peerUid(socket: Pick<Socket, "remoteAddress" | "remotePort" | "localPort">, procRoot = "/proc"): number | null {
  const addr = socket.remoteAddress;
  if (!addr || socket.remotePort === undefined || socket.localPort === undefined) return null;
  for (const f of ["net/tcp", "net/tcp6"]) {
    let text: string;
    try {
      text = readFileSync(join(procRoot, f), "latin1");
    } catch {
      continue;
    }
    for (const line of text.split("\n")) {
      const c = line.trim().split(/\s+/);
      if (c.length < 8 || !c[1]!.includes(":")) continue;
      const [la, lp] = c[1]!.split(":") as [string, string];
      const [, rp] = c[2]!.split(":") as [string, string];
      if (parseInt(lp, 16) !== socket.remotePort || parseInt(rp, 16) !== socket.localPort) continue;
      const local = hexAddr(la);
      if (local === addr || `::ffff:${local}` === addr || local === `::ffff:${addr}`) return Number(c[7]);
    }
  }
  return null;
}

/** The uid owning a process (null when it does not exist); without /proc, ours when we may signal it. */
export function pidOwner(pid: number, procRoot = "/proc"): number | null {
  try {
    return statSync(join(procRoot, String(pid))).uid;
  } catch {
    if (process.platform === "linux") return null;
  }
  try {
    process.kill(pid, 0);
    return process.getuid?.() ?? null;
  } catch {
    return null;
  }
}

/** Which signal a body posted to `/` carries (older Gemini CLI posts every signal to the bare endpoint). */
function sniffSignal(contentType: string, body: Buffer): Signal {
  if (mediaType(contentType) === "application/json") {
    const head = body.subarray(0, 256).toString("utf8");
    return /"resourceMetrics"/.test(head) ? "metrics" : /"resourceSpans"/.test(head) ? "traces" : "logs";
  }
  try {
    const logs = decodeOtlp("logs", contentType, body) as LogsRequest;
    if (logs.resourceLogs?.some((r) => r.scopeLogs?.some((s) => s.logRecords?.some((l) => l.attributes?.length || l.body || l.eventName)))) return "logs";
  } catch {
    /* not logs */
  }
  try {
    const m = decodeOtlp("metrics", contentType, body) as MetricsRequest;
    if (m.resourceMetrics?.some((r) => r.scopeMetrics?.some((s) => s.metrics?.some((x) => x.name)))) return "metrics";
  } catch {
    /* not metrics */
  }
  return "traces";
}

const PATHS: Record<string, Signal | "sniff"> = { "/v1/logs": "logs", "/v1/metrics": "metrics", "/v1/traces": "traces", "/": "sniff" };

/**
 * A local OTLP/HTTP receiver (`POST /v1/logs`, `/v1/metrics`, `/v1/traces`, and `/` as
 * older Gemini CLI versions send; JSON or protobuf; gzip). Only this user's agents may
 * post: a loopback client whose socket is owned by our uid (Linux), or any client
 * presenting the home's token. Bad requests get the right status and never stop the
 * server: 400 undecodable, 401 not this user, 403 not loopback, 404, 405, 413, 415.
 */
export class OtlpReceiver {
  readonly stats: ReceiverStats;
  private server: Server | undefined;
  private guard: ConnectionGuard | undefined;
  private readonly uids = new WeakMap<Socket, number | null>();
  private readonly uid: number;
  private readonly now: () => number;

  constructor(private readonly opts: ReceiverOptions) {
    this.uid = opts.uid ?? process.getuid?.() ?? -1;
    this.now = opts.now ?? Date.now;
    const self = this;
    this.stats = {
      requests: new Map(),
      records: { used: 0, ignored: 0, bad_timestamp: 0, foreign_pid: 0 },
      get connections() {
        return self.guard?.open ?? 0;
      },
    };
  }

  async start(): Promise<number> {
    const server = createServer((req, res) => {
      this.handle(req, res).catch((err: Error) => this.reply(res, err instanceof RangeError ? 400 : 500, "logs", err instanceof RangeError ? "malformed" : "internal", err.message));
    });
    server.maxHeadersCount = 100;
    this.guard = guardConnections(server);
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.opts.port, this.opts.host ?? "127.0.0.1", () => {
        server.off("error", reject);
        resolve();
      });
    });
    return (server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    const s = this.server;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }

  private count(signal: string, result: string): void {
    const k = `${signal} ${result}`;
    this.stats.requests.set(k, (this.stats.requests.get(k) ?? 0) + 1);
  }

  private reply(res: ServerResponse, status: number, signal: string, result: string, message: string): void {
    this.count(signal, result);
    if (res.headersSent) return;
    const body = JSON.stringify(status < 400 ? {} : { code: status, message });
    res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(body), ...(status === 413 ? { connection: "close" } : {}) });
    res.end(body);
  }

  private tokenOk(req: IncomingMessage): boolean {
    const want = this.opts.token;
    if (!want) return false;
    const auth = String(req.headers.authorization ?? "");
    const got = /^bearer\s+(\S+)$/i.exec(auth)?.[1] ?? String(req.headers["x-opensre-token"] ?? "");
    const a = Buffer.from(got);
    const b = Buffer.from(want);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  private sameUser(socket: Socket): boolean {
    if (!this.uids.has(socket)) this.uids.set(socket, peerUid(socket));
    return this.uids.get(socket) === this.uid;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? "").split("?")[0]!;
    const route = PATHS[path];
    const label = route === undefined || route === "sniff" ? "other" : route;
    const loopback = isLoopback(req.socket.remoteAddress);
    if (!this.opts.allowRemote && !loopback) {
      req.resume();
      return this.reply(res, 403, label, "remote", "only clients on this machine may send telemetry");
    }
    if (!this.tokenOk(req) && !(loopback && this.sameUser(req.socket))) {
      req.resume();
      return this.reply(res, 401, label, "unauthorized", `only this user's agents may send telemetry: send the token in ${TOKEN_FILE} of the opensre home (OTEL_EXPORTER_OTLP_HEADERS=Authorization=Bearer%20<token>)`);
    }
    if (route === undefined) {
      req.resume();
      return this.reply(res, 404, label, "path", `no such endpoint: ${path}`);
    }
    if (req.method !== "POST") {
      req.resume();
      res.setHeader("allow", "POST");
      return this.reply(res, 405, label, "method", "use POST");
    }
    const contentType = String(req.headers["content-type"] ?? "");
    const declared = Number(req.headers["content-length"] ?? NaN);
    if (Number.isFinite(declared) && declared > MAX_BODY_BYTES) {
      this.reply(res, 413, label, "too_large", `the body is over ${MAX_BODY_BYTES} bytes`);
      req.destroy();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        this.reply(res, 413, label, "too_large", `the body is over ${MAX_BODY_BYTES} bytes`);
        req.destroy();
        return;
      }
      chunks.push(chunk);
    }
    let body = Buffer.concat(chunks, size);
    if (String(req.headers["content-encoding"] ?? "").toLowerCase() === "gzip") {
      try {
        body = await gunzipAsync(body, { maxOutputLength: MAX_BODY_BYTES });
      } catch (err) {
        const big = (err as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE" || /too large|maxOutputLength/i.test((err as Error).message);
        return this.reply(res, big ? 413 : 400, label, big ? "too_large" : "malformed", big ? `the body is over ${MAX_BODY_BYTES} bytes` : `bad gzip: ${(err as Error).message}`);
      }
    }
    const signal: Signal = route === "sniff" ? sniffSignal(contentType, body) : route;
    let decoded: unknown;
    try {
      decoded = decodeOtlp(signal, contentType, body);
    } catch (err) {
      if (!(err instanceof OtlpDecodeError)) throw err;
      const unsupported = /unsupported content type/.test(err.message);
      return this.reply(res, unsupported ? 415 : 400, signal, unsupported ? "content_type" : "malformed", err.message);
    }
    if (signal === "logs") {
      let got: ReturnType<typeof logsToEvents>;
      try {
        got = logsToEvents(decoded as LogsRequest);
      } catch (err) {
        if (err instanceof RangeError || err instanceof TypeError) return this.reply(res, 400, signal, "malformed", `not an OTLP logs request: ${err.message}`);
        throw err;
      }
      const events = this.admit(got.events);
      this.stats.records.ignored! += got.records - got.events.length;
      if (events.length) this.opts.onEvents(events);
    } else if (signal === "metrics") {
      this.opts.onMetrics?.(decoded as MetricsRequest);
    }
    this.count(signal, "accepted");
    // an empty Export*ServiceResponse: `{}` in JSON, zero bytes in protobuf
    if (mediaType(contentType) === "application/x-protobuf") {
      res.writeHead(200, { "content-type": "application/x-protobuf", "content-length": 0 });
      res.end();
    } else {
      res.writeHead(200, { "content-type": "application/json", "content-length": 2 });
      res.end("{}");
    }
  }

  /** Refuse absurd timestamps; never attribute an event to a process of another user. */
  private admit(events: TelemetryEvent[]): TelemetryEvent[] {
    const now = this.now();
    const out: TelemetryEvent[] = [];
    const owners = new Map<number, number | null>();
    for (const e of events) {
      if (!Number.isFinite(e.t) || e.t > now + MAX_CLOCK_SKEW_MS || e.t < now - MAX_EVENT_AGE_MS) {
        this.stats.records.bad_timestamp!++;
        continue;
      }
      if (e.pid !== null) {
        if (!owners.has(e.pid)) owners.set(e.pid, Number.isSafeInteger(e.pid) && e.pid > 0 ? pidOwner(e.pid) : null);
        const owner = owners.get(e.pid);
        if (owner !== this.uid) {
          this.stats.records.foreign_pid!++;
          e.pid = null;
        }
      }
      this.stats.records.used!++;
      out.push(e);
    }
    return out;
  }
}
