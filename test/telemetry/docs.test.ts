import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { REPO_ROOT } from "../helpers/env.js";
import { INSTRUMENTS, prometheusName } from "../../src/telemetry/instruments.js";

test("the shipped alert rules and Grafana dashboard use only metrics the exporter serves", async () => {
  const served = new Set(INSTRUMENTS.map((i) => prometheusName(i)));
  const known = (name: string) => served.has(name) || served.has(name.replace(/_(bucket|sum|count)$/, ""));
  const rules = parse(readFileSync(join(REPO_ROOT, "docs", "prometheus-alerts.yml"), "utf8")) as { groups: Array<{ rules: Array<{ alert: string; expr: string }> }> };
  const exprs = rules.groups.flatMap((g) => g.rules.map((r) => r.expr));
  const dashboard = JSON.parse(readFileSync(join(REPO_ROOT, "docs", "grafana-dashboard.json"), "utf8")) as { panels: Array<{ targets?: Array<{ expr: string }> }> };
  exprs.push(...dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)));
  const names = new Set(exprs.flatMap((e) => e.match(/\b(opensre|process|gen_ai)_[a-zA-Z_]+/g) ?? []).filter((n) => !/^(opensre_agent_(name|provider|status)|process_pid|gen_ai_(provider_name|token_type|request_model|operation_name))$/.test(n) || served.has(n)));
  assert.ok(names.size >= 8);
  for (const n of names) assert.ok(known(n), `${n} is not served by /metrics`);
});
