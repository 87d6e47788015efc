import { randomUUID } from "node:crypto";

/**
 * The bus message: exactly the fields of the seed's schema, the same on the wire for
 * Python OpenSRE agents, shell scripts and us.
 */
export interface BusMessage {
  /** `"<name>:<pid>"`, e.g. `"claude-code:8421"`. */
  agent: string;
  /** `"finding"` is the canonical value; `"incident"` and `"write"` are used by this tool. */
  topic: string;
  /** One-line human-readable description. */
  summary: string;
  /** An evidence source (`github`, `datadog`, …) or free-form; "" when absent. */
  source: string;
  /** `"file.py:42"` style location; "" when absent. */
  path: string;
  /** Free-form payload; {} when absent. */
  data: Record<string, unknown>;
  /** UUID. */
  id: string;
  /** ISO-8601 UTC. */
  timestamp: string;
  schema_version: number;
}

/** What a caller must give; the rest gets the seed's defaults. */
export type BusMessageInput = Pick<BusMessage, "agent" | "topic" | "summary"> & Partial<BusMessage>;

export const SCHEMA_VERSION = 1;

/** A frame that is not a valid bus message. The broker never raises it; subscribers see it as a warning. */
export class BusDecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "BusDecodeError";
  }
}

const REQUIRED = ["agent", "topic", "summary"] as const;
const OPTIONAL_STRINGS = ["source", "path", "id", "timestamp"] as const;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Fill defaults (id, timestamp, schema_version, "" and {}) and validate field types. */
export function createMessage(input: BusMessageInput): BusMessage {
  return validate(input as unknown as Record<string, unknown>, false);
}

/** Throws the specific error for a message that failed the combined check in `validate`. */
function invalid(obj: Record<string, unknown>, fromWire: boolean): never {
  const where = fromWire ? "frame" : "message";
  for (const key of REQUIRED) {
    if (!(key in obj) || obj[key] === undefined || obj[key] === null) {
      throw new BusDecodeError(`${where} is missing required field "${key}"`);
    }
    if (typeof obj[key] !== "string") throw new BusDecodeError(`${where} field "${key}" must be a string`);
  }
  for (const key of OPTIONAL_STRINGS) {
    const v = obj[key];
    if (v !== undefined && v !== null && typeof v !== "string") {
      throw new BusDecodeError(`${where} field "${key}" must be a string`);
    }
  }
  if (obj.data !== undefined && obj.data !== null && !isPlainObject(obj.data)) {
    throw new BusDecodeError(`${where} field "data" must be an object`);
  }
  throw new BusDecodeError(`${where} field "schema_version" must be an integer`);
}

let clockMs = -1;
let clockIso = "";
/** The current time in ISO-8601, formatted once per millisecond. */
function nowIso(): string {
  const ms = Date.now();
  if (ms !== clockMs) {
    clockMs = ms;
    clockIso = new Date(ms).toISOString();
  }
  return clockIso;
}

function validate(obj: Record<string, unknown>, fromWire: boolean): BusMessage {
  const { agent, topic, summary, source, path, data, id, timestamp } = obj;
  const sv = obj.schema_version;
  // One combined check (every message on a busy bus passes through here); the slow path names the field.
  if (
    typeof agent !== "string" ||
    typeof topic !== "string" ||
    typeof summary !== "string" ||
    (source != null && typeof source !== "string") ||
    (path != null && typeof path !== "string") ||
    (id != null && typeof id !== "string") ||
    (timestamp != null && typeof timestamp !== "string") ||
    (data != null && !isPlainObject(data)) ||
    (sv != null && !Number.isInteger(sv))
  ) {
    invalid(obj, fromWire);
  }
  return {
    agent,
    topic,
    summary,
    source: (source as string | undefined | null) ?? "",
    path: (path as string | undefined | null) ?? "",
    data: (data as Record<string, unknown> | undefined | null) ?? {},
    id: (id as string | undefined | null) || randomUUID(),
    timestamp: (timestamp as string | undefined | null) || nowIso(),
    schema_version: (sv as number | undefined | null) ?? SCHEMA_VERSION,
  };
}

/** One compact JSON object followed by "\n". */
export function encodeMessage(message: BusMessage | BusMessageInput): string {
  return encodeCreated(createMessage(message));
}

/** Encode a message made by `createMessage` (its keys are already in the seed's order). */
export function encodeCreated(m: BusMessage): string {
  return JSON.stringify(m) + "\n";
}

/** Where JSON.parse stopped, from its message, without quoting the text. */
function whereInvalid(parserMessage: string, length: number): string {
  const at = /at position (\d+)/.exec(parserMessage);
  if (at) return Number(at[1]) >= length ? " (it ends too early)" : ` (error at character ${at[1]})`;
  if (/Unexpected end of JSON input/.test(parserMessage)) return " (it ends too early)";
  const token = /^Unexpected token/.test(parserMessage);
  return token ? " (unexpected character)" : "";
}

/** Decode one frame (with or without its trailing newline). Throws BusDecodeError with a specific reason. */
export function decodeFrame(frame: string | Buffer): BusMessage {
  let text = typeof frame === "string" ? frame : frame.toString("utf8");
  if (text.endsWith("\n")) text = text.slice(0, text.endsWith("\r\n") ? -2 : -1);
  return decodeLine(text);
}

/** Decode one frame's text, its newline already removed (what a subscription does per frame). */
export function decodeLine(text: string): BusMessage {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    // The parser's own message quotes the input: never echo a peer's bytes into a warning.
    throw new BusDecodeError(`frame is not valid JSON${whereInvalid((err as Error).message, text.length)}`);
  }
  if (!isPlainObject(parsed)) {
    const kind = Array.isArray(parsed) ? "an array" : parsed === null ? "null" : typeof parsed;
    throw new BusDecodeError(`frame is not a JSON object (got ${kind})`);
  }
  return validate(parsed, true);
}
