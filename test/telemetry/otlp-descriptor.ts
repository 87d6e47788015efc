import { createRequire } from "node:module";
import { join } from "node:path";
import { REPO_ROOT } from "../helpers/env.js";

const require = createRequire(import.meta.url);

/** The vendored official OTLP .proto files (opentelemetry-proto v1.11.0). */
export const PROTO_DIR = join(REPO_ROOT, "src", "telemetry", "proto");
export const DESCRIPTOR_FILE = join(REPO_ROOT, "src", "telemetry", "otlp-descriptor.ts");

/** The text of `src/telemetry/otlp-descriptor.ts`: the .proto files parsed by protobufjs into its JSON descriptor. */
export function descriptorSource(): string {
  const protobuf = require("protobufjs") as typeof import("protobufjs");
  const root = new protobuf.Root();
  root.resolvePath = (_origin: string, target: string) => join(PROTO_DIR, target);
  root.loadSync(["logs", "metrics", "trace"].map((s) => `opentelemetry/proto/collector/${s}/v1/${s}_service.proto`));
  root.resolveAll();
  const json = JSON.stringify(root.toJSON({ keepComments: false }), null, 1);
  return [
    "// Generated from src/telemetry/proto (opentelemetry-proto v1.11.0, Apache-2.0) by test/telemetry/otlp-descriptor.ts;",
    "// regenerate with `UPDATE_OTLP_DESCRIPTOR=1 node --test dist/test/telemetry/otlp-descriptor.test.js`.",
    "",
    `export const OTLP_DESCRIPTOR: object = ${json};`,
    "",
  ].join("\n");
}
