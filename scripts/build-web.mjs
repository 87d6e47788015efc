// Bundles the dashboard's page (src/web/client, with uPlot and the shared view modules) into
// dist/src/web/assets/app.js and app.css: the package serves them itself, nothing is loaded
// from elsewhere, so the page works offline. Type-checked beforehand by `tsc -p src/web/client`.
import { build } from "esbuild";
import { readFileSync, mkdirSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(root, "dist", "src", "web", "assets");
mkdirSync(out, { recursive: true });
await build({
  entryPoints: [join(root, "src", "web", "client", "main.ts")],
  bundle: true,
  minify: true,
  format: "iife",
  target: ["es2022", "chrome110", "firefox115", "safari16"],
  platform: "browser",
  legalComments: "eof",
  outfile: join(out, "app.js"),
  logLevel: "warning",
});
const require = createRequire(import.meta.url);
const uplotCss = readFileSync(require.resolve("uplot/dist/uPlot.min.css"), "utf8");
const ours = readFileSync(join(root, "src", "web", "client", "style.css"), "utf8");
writeFileSync(join(out, "app.css"), `/* uPlot (MIT) */\n${uplotCss}\n${ours}`);
