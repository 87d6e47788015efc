import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { gunzip } from "node:zlib";
import { promisify } from "node:util";
import { logsToEvents, type TelemetryEvent } from "./events.js";
import { decodeOtlp, OtlpDecodeError, type LogsRequest, type MetricsRequest, type Signal } from "./otlp.js";

const gunzipAsync = promisify(gunzip);

/** Largest request body accepted (also after decompression): OTLP batches are far smaller. */
export const MAX_BODY_BYTES = 4 * 1024 * 1024;

export interface ReceiverStats {
  received: Record<Signal, number>;
  records: number;
  events: number;
  rejected: Record<string, number>;
}

export interface ReceiverOptions {
  port: number;
  /** Bind address; default loopback. */
  host?: string;
  /** Accept clients that are not on loopback (only when the user binds elsewhere on purpose). */
  allowRemote?: boolean;
  onEvents(events: TelemetryEvent[]): void;
  onMetrics?(req: MetricsRequest): void;
}

export function isLoopback(addr: string | undefined): boolean {
  if (!addr) return false;
  return addr === "::1" || addr.startsWith("127.") || addr.startsWith("::ffff:127.");
}

/**
 * A local OTLP/HTTP receiver (`POST /v1/logs`, `/v1/metrics`, `/v1/traces`; JSON or
 * protobuf; gzip). Bad requests get the right status and never stop the server:
 * 403 non-loopback client, 404 unknown path, 405 not POST, 413 over 4 MiB, 415 other
 * content types, 400 undecodable.
 */
export class OtlpReceiver {
  readonly stats: ReceiverStats = { received: { logs: 0, metrics: 0, traces: 0 }, records: 0, events: 0, rejected: {} };
  private server: Server | undefined;

  constructor(private readonly opts: ReceiverOptions) {}

  async start(): Promise<number> {
    const server = createServer((req, res) => {
      this.handle(req, res).catch((err: Error) => this.reply(res, 500, "internal", err.message));
    });
    server.maxHeadersCount = 100;
    server.requestTimeout = 30_000;
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

  private reply(res: ServerResponse, status: number, reason: string, message: string): void {
    if (status >= 400) this.stats.rejected[reason] = (this.stats.rejected[reason] ?? 0) + 1;
    if (res.headersSent) return;
    const body = JSON.stringify(status < 400 ? {} : { code: status, message });
    res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(body), ...(status === 413 ? { connection: "close" } : {}) });
    res.end(body);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!this.opts.allowRemote && !isLoopback(req.socket.remoteAddress)) {
      req.resume();
      return this.reply(res, 403, "remote", "only clients on this machine may send telemetry");
    }
    const path = (req.url ?? "").split("?")[0];
    const signal: Signal | null = path === "/v1/logs" ? "logs" : path === "/v1/metrics" ? "metrics" : path === "/v1/traces" ? "traces" : null;
    if (!signal) {
      req.resume();
      return this.reply(res, 404, "path", `no such endpoint: ${path}`);
    }
    if (req.method !== "POST") {
      req.resume();
      res.setHeader("allow", "POST");
      return this.reply(res, 405, "method", "use POST");
    }
    const contentType = String(req.headers["content-type"] ?? "");
    const declared = Number(req.headers["content-length"] ?? NaN);
    if (Number.isFinite(declared) && declared > MAX_BODY_BYTES) {
      this.reply(res, 413, "too_large", `the body is over ${MAX_BODY_BYTES} bytes`);
      req.destroy();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        tooLarge = true;
        break;
      }
      chunks.push(chunk);
    }
    if (tooLarge) {
      this.reply(res, 413, "too_large", `the body is over ${MAX_BODY_BYTES} bytes`);
      req.destroy();
      return;
    }
    let body = Buffer.concat(chunks, size);
    if (String(req.headers["content-encoding"] ?? "").toLowerCase() === "gzip") {
      try {
        body = await gunzipAsync(body, { maxOutputLength: MAX_BODY_BYTES });
      } catch (err) {
        const big = (err as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE" || /too large|maxOutputLength/i.test((err as Error).message);
        return this.reply(res, big ? 413 : 400, big ? "too_large" : "malformed", big ? `the body is over ${MAX_BODY_BYTES} bytes` : `bad gzip: ${(err as Error).message}`);
      }
    }
    let decoded: unknown;
    try {
      decoded = decodeOtlp(signal, contentType, body);
    } catch (err) {
      if (err instanceof OtlpDecodeError) return this.reply(res, /unsupported content type/.test(err.message) ? 415 : 400, /unsupported/.test(err.message) ? "content_type" : "malformed", err.message);
      throw err;
    }
    this.stats.received[signal]++;
    if (signal === "logs") {
      const { events, records } = logsToEvents(decoded as LogsRequest);
      this.stats.records += records;
      this.stats.events += events.length;
      if (events.length) this.opts.onEvents(events);
    } else if (signal === "metrics") {
      this.opts.onMetrics?.(decoded as MetricsRequest);
    }
    // an empty Export*ServiceResponse: `{}` in JSON, zero bytes in protobuf
    if (contentType.startsWith("application/x-protobuf")) {
      res.writeHead(200, { "content-type": "application/x-protobuf", "content-length": 0 });
      res.end();
    } else this.reply(res, 200, "ok", "");
  }
}
