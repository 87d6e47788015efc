import { createRequire } from "node:module";

/**
 * OTLP/HTTP request bodies, decoded with the official OpenTelemetry protobuf definitions
 * (`@opentelemetry/otlp-transformer`'s generated root) for `application/x-protobuf`, and
 * as the OTLP/JSON mapping for `application/json`. Both end up in the same shape: the
 * JSON mapping (camelCase keys, int64 as strings, bytes as hex).
 */
const require = createRequire(import.meta.url);

interface PbType {
  decode(buf: Uint8Array): unknown;
  toObject(msg: unknown, opts: Record<string, unknown>): unknown;
}
interface Root {
  opentelemetry: {
    proto: {
      collector: {
        logs: { v1: { ExportLogsServiceRequest: PbType } };
        metrics: { v1: { ExportMetricsServiceRequest: PbType } };
        trace: { v1: { ExportTraceServiceRequest: PbType } };
      };
    };
  };
}

let root: Root | undefined;
function pb(): Root {
  root ??= require("@opentelemetry/otlp-transformer/build/src/generated/root") as Root;
  return root;
}

export type Signal = "logs" | "metrics" | "traces";

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
}
export interface KeyValue {
  key: string;
  value?: AnyValue;
}
export interface LogRecord {
  timeUnixNano?: string | number;
  observedTimeUnixNano?: string | number;
  body?: AnyValue;
  attributes?: KeyValue[];
  eventName?: string;
}
export interface LogsRequest {
  resourceLogs?: Array<{ resource?: { attributes?: KeyValue[] }; scopeLogs?: Array<{ scope?: { name?: string }; logRecords?: LogRecord[] }> }>;
}
export interface MetricsRequest {
  resourceMetrics?: Array<{ resource?: { attributes?: KeyValue[] }; scopeMetrics?: Array<{ metrics?: Array<{ name?: string }> }> }>;
}

const TO_OBJECT = { longs: String, enums: Number, bytes: String, defaults: false, arrays: true };

/** Decode one request body; throws OtlpDecodeError with a reason fit for a 400 response. */
export function decodeOtlp(signal: Signal, contentType: string, body: Buffer): unknown {
  const type = contentType.split(";")[0]!.trim().toLowerCase();
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
    const c = pb().opentelemetry.proto.collector;
    const t = signal === "logs" ? c.logs.v1.ExportLogsServiceRequest : signal === "metrics" ? c.metrics.v1.ExportMetricsServiceRequest : c.trace.v1.ExportTraceServiceRequest;
    try {
      return t.toObject(t.decode(body), TO_OBJECT);
    } catch (err) {
      throw new OtlpDecodeError(`invalid protobuf: ${(err as Error).message}`);
    }
  }
  throw new OtlpDecodeError(`unsupported content type: ${type || "(none)"}`);
}

/** A plain JS value from an OTLP AnyValue. */
export function anyValue(v: AnyValue | undefined): unknown {
  if (!v) return undefined;
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return v.doubleValue;
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.arrayValue) return (v.arrayValue.values ?? []).map(anyValue);
  if (v.kvlistValue) return attrs(v.kvlistValue.values);
  return undefined;
}

export function attrs(list: KeyValue[] | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const kv of list ?? []) if (kv && typeof kv.key === "string") out[kv.key] = anyValue(kv.value);
  return out;
}
