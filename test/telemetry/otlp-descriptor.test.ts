import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { DESCRIPTOR_FILE, descriptorSource } from "./otlp-descriptor.js";

test("the OTLP descriptor the receiver and the push use is the vendored official .proto files, parsed", () => {
  const want = descriptorSource();
  if (process.env.UPDATE_OTLP_DESCRIPTOR === "1") writeFileSync(DESCRIPTOR_FILE, want);
  assert.equal(readFileSync(DESCRIPTOR_FILE, "utf8"), want, "src/telemetry/otlp-descriptor.ts is stale: regenerate it");
});
