import protobuf from "protobufjs/light.js";
import { OTLP_DESCRIPTOR } from "./otlp-descriptor.js";

/**
 * OTLP/HTTP bodies, both ways. Protobuf is decoded and encoded with the official
 * OpenTelemetry protobuf definitions (opentelemetry-proto, vendored in `proto/` and parsed
 * into `otlp-descriptor.ts`) through protobufjs; JSON is the OTLP/JSON mapping. Both end
 * up in the same shape: the JSON mapping (camelCase keys, int64 as strings, bytes as hex).
 */
export type Signal = "logs" | "metrics" | "traces";

const SERVICE: Record<Signal, string> = {
  logs: "opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest",
  metrics: "opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest",
  traces: "opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest",
};

let root: protobuf.Root | undefined;
function requestType(signal: Signal): protobuf.Type {
  root ??= protobuf.Root.fromJSON(OTLP_DESCRIPTOR as protobuf.INamespace);
  return root.lookupType(SERVICE[signal]);
}

export class OtlpDecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "OtlpDecodeError";
  }
}

export interface AnyValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: string | number;
  doubleValue?: number;
  arrayValue?: { values?: AnyValue[] };
  kvlistValue?: { values?: KeyValue[] };
  bytesValue?: string;
}
export interface KeyValue {
  key: string;
  value?: AnyValue;
}
export interface LogRecord {
  timeUnixNano?: string | number;
  observedTimeUnixNano?: string | number;
  severityNumber?: number;
  severityText?: string;
  body?: AnyValue;
  attributes?: KeyValue[];
  eventName?: string;
}
export interface Resource {
  attributes?: KeyValue[];
}
export interface LogsRequest {
  resourceLogs?: Array<{ resource?: Resource; scopeLogs?: Array<{ scope?: { name?: string; version?: string }; logRecords?: LogRecord[] }> }>;
}
export interface NumberDataPoint {
  attributes?: KeyValue[];
  startTimeUnixNano?: string;
  timeUnixNano?: string;
  asDouble?: number;
  asInt?: string;
}
export interface HistogramDataPoint {
  attributes?: KeyValue[];
  startTimeUnixNano?: string;
  timeUnixNano?: string;
  count?: string;
  sum?: number;
  bucketCounts?: string[];
  explicitBounds?: number[];
}
export interface Metric {
  name?: string;
  description?: string;
  unit?: string;
  gauge?: { dataPoints?: NumberDataPoint[] };
  sum?: { dataPoints?: NumberDataPoint[]; aggregationTemporality?: number; isMonotonic?: boolean };
  histogram?: { dataPoints?: HistogramDataPoint[]; aggregationTemporality?: number };
}
export interface MetricsRequest {
  resourceMetrics?: Array<{ resource?: Resource; scopeMetrics?: Array<{ scope?: { name?: string; version?: string }; metrics?: Metric[] }> }>;
}

const TO_OBJECT = { longs: String, enums: Number, bytes: String, defaults: false, arrays: true };

export function mediaType(contentType: string): string {
  return contentType.split(";")[0]!.trim().toLowerCase();
}

/** Decode one request body; throws OtlpDecodeError with a reason fit for a 400 (or 415) response. */
export function decodeOtlp(signal: Signal, contentType: string, body: Buffer): unknown {
  const type = mediaType(contentType);
  if (type === "application/json") {
    let v: unknown;
    try {
      v = JSON.parse(body.toString("utf8"));
    } catch (err) {
      throw new OtlpDecodeError(`invalid JSON: ${(err as Error).message}`);
    }
    if (typeof v !== "object" || v === null || Array.isArray(v)) throw new OtlpDecodeError("the body is not an OTLP export request object");
    return v;
  }
  if (type === "application/x-protobuf") {
    const t = requestType(signal);
    try {
      return t.toObject(t.decode(body), TO_OBJECT);
    } catch (err) {
      throw new OtlpDecodeError(`invalid protobuf: ${(err as Error).message}`);
    }
  }
  throw new OtlpDecodeError(`unsupported content type: ${type || "(none)"}`);
}

/** An export request in the OTLP/JSON mapping, as protobuf bytes (official definitions). */
export function encodeOtlp(signal: Signal, request: object): Uint8Array {
  const t = requestType(signal);
  return t.encode(t.fromObject(request)).finish();
}

/**
 * Deepest AnyValue nesting read: OTLP attributes are flat in practice; a body nested
 * thousands deep is an attack on the stack, and deeper values read as undefined.
 */
export const MAX_ANY_VALUE_DEPTH = 16;

/** A plain JS value from an OTLP AnyValue. */
export function anyValue(v: AnyValue | undefined, depth = 0): unknown {
  if (!v || typeof v !== "object" || depth > MAX_ANY_VALUE_DEPTH) return undefined;
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return v.doubleValue;
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.arrayValue) return Array.isArray(v.arrayValue.values) ? v.arrayValue.values.slice(0, 1000).map((x) => anyValue(x, depth + 1)) : [];
  if (v.kvlistValue) return attrs(v.kvlistValue.values, depth + 1);
  return undefined;
}

export function attrs(list: KeyValue[] | undefined, depth = 0): Record<string, unknown> {
  const out: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  if (!Array.isArray(list)) return out;
  for (const kv of list) if (kv && typeof kv.key === "string") out[kv.key] = anyValue(kv.value, depth);
  return out;
}
