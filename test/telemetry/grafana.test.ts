import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { REPO_ROOT } from "../helpers/env.js";

const require = createRequire(import.meta.url);

/**
 * Type-checks a dashboard JSON against Grafana's published schema (`@grafana/schema`'s
 * `Dashboard`): the JSON becomes an object literal checked with `satisfies`, so literal
 * unions (variable types, refresh modes) and unknown keys are checked as Grafana declares them.
 */
function typeCheck(json: string): string[] {
  const ts = require("typescript") as typeof import("typescript");
  const file = join(REPO_ROOT, "grafana-dashboard.check.ts");
  const source = `import type { Dashboard } from "@grafana/schema";\nexport const dashboard = ${json.trim()} satisfies Dashboard;\n`;
  const options: import("typescript").CompilerOptions = { strict: true, noEmit: true, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, target: ts.ScriptTarget.ES2022, skipLibCheck: true, types: [] };
  const host = ts.createCompilerHost(options);
  const read = host.readFile.bind(host);
  const exists = host.fileExists.bind(host);
  const get = host.getSourceFile.bind(host);
  host.readFile = (f) => (f === file ? source : read(f));
  host.fileExists = (f) => f === file || exists(f);
  host.getSourceFile = (f, v, ...rest) => (f === file ? ts.createSourceFile(f, source, v) : get(f, v, ...rest));
  const program = ts.createProgram([file], options, host);
  return ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, "\n"));
}

test("docs/grafana-dashboard.json type-checks against Grafana's published schema (@grafana/schema)", () => {
  const errors = typeCheck(readFileSync(join(REPO_ROOT, "docs", "grafana-dashboard.json"), "utf8"));
  assert.deepEqual(errors, []);
});

test("the type check catches what the schema forbids (an unknown variable type, an empty current)", () => {
  const bad = typeCheck(JSON.stringify({ title: "x", templating: { list: [{ name: "ds", type: "datasources" }] } }));
  assert.ok(bad.some((e) => /"datasources"/.test(e)), bad.join("\n"));
  const empty = typeCheck(JSON.stringify({ title: "x", templating: { list: [{ name: "ds", type: "datasource", current: {} }] } }));
  assert.ok(empty.some((e) => /current/.test(e) || /text/.test(e)), empty.join("\n"));
});
