import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { REPO_ROOT } from "../helpers/env.js";
import { FleetMetrics } from "../../src/telemetry/prometheus.js";

test("the shipped alert rules and Grafana dashboard use only metrics the exporter serves", async () => {
  const served = new Set((await new FleetMetrics().registry.getMetricsAsJSON()).map((m) => m.name));
  const known = (name: string) => served.has(name) || served.has(name.replace(/_(bucket|sum|count)$/, ""));
  const rules = parse(readFileSync(join(REPO_ROOT, "docs", "prometheus-alerts.yml"), "utf8")) as { groups: Array<{ rules: Array<{ alert: string; expr: string }> }> };
  const exprs = rules.groups.flatMap((g) => g.rules.map((r) => r.expr));
  const dashboard = JSON.parse(readFileSync(join(REPO_ROOT, "docs", "grafana-dashboard.json"), "utf8")) as { panels: Array<{ targets?: Array<{ expr: string }> }> };
  exprs.push(...dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)));
  const names = new Set(exprs.flatMap((e) => e.match(/opensre_[a-z_]+/g) ?? []));
  assert.ok(names.size >= 8);
  for (const n of names) assert.ok(known(n), `${n} is not served by /metrics`);
});
