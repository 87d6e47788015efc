import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { guardConnections } from "./connections.js";
import type { Attrs, Collection, HistogramPoint, NumberPoint } from "./fleet-metrics.js";
import { prometheusLabel, prometheusName, prometheusType } from "./instruments.js";

/** Prometheus text exposition format 0.0.4. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** Resource attributes that become `job`/`instance` on the Prometheus side rather than `target_info` labels. */
const IDENTIFYING = new Set(["service.name", "service.namespace", "service.instance.id"]);

const escHelp = (s: string) => s.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
const escValue = (s: string) => (/[\\\n"]/.test(s) ? s.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"') : s);

function labels(a: Attrs, extra?: [string, string]): string {
  const parts = Object.entries(a).map(([k, v]) => `${prometheusLabel(k)}="${escValue(String(v))}"`);
  if (extra) parts.push(`${extra[0]}="${escValue(extra[1])}"`);
  return parts.length ? `{${parts.join(",")}}` : "";
}

function num(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}

/**
 * A collection in the Prometheus text format, under the standard OpenTelemetry →
 * Prometheus translation (names with unit and type suffixes, attribute keys with `_`,
 * resource attributes in `target_info`): the same series a Prometheus that ingests the
 * OTLP push creates.
 */
export function renderPrometheus(c: Collection): string {
  const out: string[] = [];
  out.push("# HELP target_info Target metadata", "# TYPE target_info gauge");
  out.push(`target_info${labels(Object.fromEntries(Object.entries(c.resource).filter(([k]) => !IDENTIFYING.has(k))))} 1`);
  for (const f of c.families) {
    const name = prometheusName(f.instrument);
    const type = prometheusType(f.instrument.kind);
    out.push(`# HELP ${name} ${escHelp(f.instrument.description)}`, `# TYPE ${name} ${type}`);
    if (type !== "histogram") {
      for (const p of f.points as NumberPoint[]) out.push(`${name}${labels(p.attrs)} ${num(p.value)}`);
      continue;
    }
    const bounds = f.instrument.buckets ?? [];
    const base = name;
    for (const p of f.points as HistogramPoint[]) {
      let cum = 0;
      for (let i = 0; i <= bounds.length; i++) {
        cum += p.counts[i] ?? 0;
        out.push(`${base}_bucket${labels(p.attrs, ["le", i < bounds.length ? num(bounds[i]!) : "+Inf"])} ${cum}`);
      }
      out.push(`${base}_sum${labels(p.attrs)} ${num(p.sum)}`, `${base}_count${labels(p.attrs)} ${p.count}`);
    }
  }
  return out.join("\n") + "\n";
}

/** `GET /metrics` on loopback (or the host the user chose); connections capped and idle ones timed out. */
export async function serveMetrics(collect: () => Collection, port: number, host = "127.0.0.1"): Promise<{ port: number; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "").split("?")[0];
    if ((req.method !== "GET" && req.method !== "HEAD") || path !== "/metrics") {
      req.resume();
      res.writeHead(path === "/metrics" ? 405 : 404, { "content-type": "text/plain" });
      res.end(path === "/metrics" ? "use GET\n" : "not found; metrics are at /metrics\n");
      return;
    }
    let body: string;
    try {
      body = renderPrometheus(collect());
    } catch (err) {
      res.writeHead(500, { "content-type": "text/plain" });
      res.end(`${(err as Error).message}\n`);
      return;
    }
    res.writeHead(200, { "content-type": PROMETHEUS_CONTENT_TYPE, "content-length": Buffer.byteLength(body) });
    res.end(req.method === "HEAD" ? undefined : body);
  });
  guardConnections(server);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
