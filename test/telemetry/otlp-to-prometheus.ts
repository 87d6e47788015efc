import { createRequire } from "node:module";

/**
 * What a Prometheus that ingests OTLP makes of an ExportMetricsServiceRequest: the
 * specification's OTLP → Prometheus translation (Prometheus' OTLP receiver with its default
 * `UnderscoreEscapingWithSuffixes`), written here apart from the code under test: metric
 * names with `.`→`_`, the unit as a suffix (`s`→`seconds`, `By`→`bytes`, annotations `{…}`
 * dropped, other units kept), `_total` for monotonic sums, `_ratio` for gauges of unit `1`;
 * histograms as `_bucket{le}`, `_sum`, `_count`; attribute keys with `.`→`_`; the resource's
 * other attributes in `target_info`. Series are returned as `name{k="v",…}` with sorted labels.
 */
const UNITS: Record<string, string> = { s: "seconds", ms: "milliseconds", By: "bytes", min: "minutes", h: "hours" };

function metricName(name: string, unit: string, kind: "gauge" | "sum" | "histogram", monotonic: boolean): string {
  const words = name.split(/[^A-Za-z0-9]+/).filter((w) => w);
  const main = unit.replace(/\{[^}]*\}/g, "");
  if (main && main !== "1") {
    const w = UNITS[main] ?? main;
    if (!words.includes(w)) words.push(w);
  }
  if (kind === "sum" && monotonic) words.push(...(words.at(-1) === "total" ? [] : ["total"]));
  if (kind === "gauge" && unit === "1") words.push("ratio");
  return words.join("_");
}
const label = (k: string) => k.replace(/[^A-Za-z0-9_]/g, "_");

type KV = { key: string; value?: { stringValue?: string; intValue?: string | number; doubleValue?: number; boolValue?: boolean } };
const valueOf = (v: KV["value"]) => String(v?.stringValue ?? v?.intValue ?? v?.doubleValue ?? v?.boolValue ?? "");

function series(name: string, attrs: Record<string, string>): string {
  const ls = Object.entries(attrs).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `${name}{${ls.map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(",")}}`;
}

interface Req {
  resourceMetrics?: Array<{
    resource?: { attributes?: KV[] };
    scopeMetrics?: Array<{ metrics?: Array<Record<string, any>> }>;
  }>;
}

/** Series (name and labels) of one request, with `job`/`instance` from service.name / service.instance.id. */
export function translate(req: Req): Map<string, number> {
  const out = new Map<string, number>();
  for (const rm of req.resourceMetrics ?? []) {
    const res = Object.fromEntries((rm.resource?.attributes ?? []).map((a) => [a.key, valueOf(a.value)]));
    const target = { job: res["service.name"] ?? "", instance: res["service.instance.id"] ?? "" };
    const info: Record<string, string> = { ...target };
    for (const [k, v] of Object.entries(res)) if (!["service.name", "service.instance.id", "service.namespace"].includes(k)) info[label(k)] = v;
    out.set(series("target_info", info), 1);
    for (const sm of rm.scopeMetrics ?? []) {
      for (const m of sm.metrics ?? []) {
        const kind = m.histogram ? "histogram" : m.sum ? "sum" : "gauge";
        const name = metricName(m.name, m.unit ?? "", kind, m.sum?.isMonotonic === true);
        for (const p of (m.histogram ?? m.sum ?? m.gauge).dataPoints ?? []) {
          const attrs: Record<string, string> = { ...target };
          for (const a of (p.attributes ?? []) as KV[]) attrs[label(a.key)] = valueOf(a.value);
          if (kind !== "histogram") {
            out.set(series(name, attrs), Number(p.asDouble ?? p.asInt));
            continue;
          }
          let cum = 0;
          const bounds: number[] = p.explicitBounds ?? [];
          (p.bucketCounts as Array<string | number>).forEach((c, i) => {
            cum += Number(c);
            out.set(series(`${name}_bucket`, { ...attrs, le: i < bounds.length ? String(bounds[i]) : "+Inf" }), cum);
          });
          out.set(series(`${name}_sum`, attrs), Number(p.sum));
          out.set(series(`${name}_count`, attrs), Number(p.count));
        }
      }
    }
  }
  return out;
}

/** Series of a Prometheus text exposition, with the scrape's `job`/`instance` added. */
export function scraped(text: string, target: { job: string; instance: string }): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not an exposition line: ${line}`);
    const attrs: Record<string, string> = { ...target };
    for (const lm of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) attrs[lm[1]!] = JSON.parse(`"${lm[2]}"`) as string;
    out.set(series(m[1]!, attrs), Number(m[3]));
  }
  return out;
}

const require = createRequire(import.meta.url);
interface PbType {
  decode(b: Uint8Array): unknown;
  toObject(m: unknown, o: object): unknown;
}
/** Decode with the official generated protobuf code of @opentelemetry/otlp-transformer (not ours). */
export function decodeMetricsOfficial(body: Buffer): Req {
  const root = require("@opentelemetry/otlp-transformer/build/src/generated/root") as { opentelemetry: { proto: { collector: { metrics: { v1: { ExportMetricsServiceRequest: PbType } } } } } };
  const T = root.opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest;
  return T.toObject(T.decode(body), { longs: String, enums: Number, defaults: false, arrays: true }) as Req;
}
