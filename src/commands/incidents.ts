import { fmtAgo, fmtBytes, fmtDuration } from "../fleet/format.js";
import { CommandError, UsageError, type CommandSpec } from "../shell/command.js";
import { parseFlags } from "../shell/args.js";
import { closeIncident, compactIncidentsIfLarge, findIncident, incidentState, readIncidents, type Incident } from "../slo/incidents.js";
import { AnsiSanitizer } from "../trace/ansi.js";
import { plainTable } from "../term/table.js";
import { CATALOG } from "./catalog.js";
import { escapeText as e, safeJson } from "../term/sanitize.js";

const USAGE = "usage: /agents incidents [--all] [--json] | show <id> | ack <id> | resolve <id>";
export const NO_INCIDENTS = "no incidents";
/** Resolved incidents stay in the default listing this long. */
export const RECENT_MS = 24 * 60 * 60_000;

function when(iso: string | null, now: number): string {
  return iso ? fmtAgo(Date.parse(iso), now) : "-";
}

function listRows(incidents: readonly Incident[], now: number): string[][] {
  return incidents.map((i) => [i.id, i.agent, String(i.pid), i.slo, incidentState(i), when(i.opened_at, now), i.detail]);
}

/** One incident in full. Every field read from the incidents file is escaped; the evidence passes the trace filter. */
export function renderIncident(i: Incident, now: number): string {
  const lines = [
    `incident ${e(i.id)}  ${incidentState(i)}`,
    `agent      ${e(i.agent)} (pid ${i.pid}, ${e(i.provider)})`,
    `slo        ${e(i.slo)}`,
    `detail     ${e(i.detail)}`,
    `opened     ${e(i.opened_at)} (${when(i.opened_at, now)})`,
  ];
  if (i.acked_at) lines.push(`acked      ${e(i.acked_at)} (${when(i.acked_at, now)})`);
  if (i.resolved_at) lines.push(`resolved   ${e(i.resolved_at)} (${when(i.resolved_at, now)}): ${e(i.resolution ?? "-")}`);
  for (const k of i.kills) lines.push(`kill       ${e(k.at)}: ${e(k.outcome)}`);
  const r = i.evidence.resources;
  lines.push(
    `resources  cpu ${r.cpuPct === null ? "-" : r.cpuPct.toFixed(1) + "%"}  mem ${fmtBytes(r.rssBytes)}  uptime ${fmtDuration(r.uptimeSec)}  children ${r.children ?? "-"}`,
  );
  const s = i.evidence.signals;
  lines.push(
    `signals    status ${e(s.status)}  last output ${e(s.lastOutputAt ?? "-")}  tokens/min ${s.tokensPerMin ?? "-"}  $/hr ${s.usdPerHour === null ? "-" : s.usdPerHour.toFixed(2)}  err% ${s.errorRatePct === null ? "-" : s.errorRatePct.toFixed(1)}  model ${e(s.model ?? "-")}`,
  );
  if (i.evidence.source) {
    lines.push(`evidence   last ${Buffer.byteLength(i.evidence.output)} bytes of ${e(i.evidence.source)}:`);
    // the output is the agent's: render it through the same filter as trace (no terminal control)
    const text = new AnsiSanitizer().push(i.evidence.output).replace(/\n$/, "");
    for (const l of text.split("\n")) lines.push(`  ${l}`);
  } else {
    lines.push("evidence   no output file or transcript was readable");
  }
  return lines.join("\n") + "\n";
}

async function closeLoop(home: string, raw: string, action: "ack" | "resolve"): Promise<string> {
  const r = await closeIncident(home, raw, action);
  if (!r.ok) throw new CommandError(e(r.message));
  return e(r.message);
}

export const incidentsCommand: CommandSpec = {
  ...CATALOG.incidents,
  async run(args, ctx) {
    const [verb, ...rest] = args;
    if (verb === "show" || verb === "ack" || verb === "resolve") {
      if (rest.length !== 1) throw new UsageError(`usage: /agents incidents ${verb} <id>`);
      if (verb === "show") {
        const { incidents } = readIncidents(ctx.home, { archive: true });
        const found = findIncident(incidents, rest[0]!);
        if (typeof found === "string") throw new CommandError(e(found));
        ctx.stdout.write(renderIncident(found, Date.now()));
        return 0;
      }
      ctx.stdout.write((await closeLoop(ctx.home, rest[0]!, verb)) + "\n");
      return 0;
    }
    const { values, positionals } = parseFlags(args, { all: { type: "boolean" }, json: { type: "boolean" } }, USAGE);
    if (positionals.length) throw new UsageError(USAGE);
    await compactIncidentsIfLarge(ctx.home);
    const { incidents, warnings } = readIncidents(ctx.home, { archive: values.all === true });
    for (const w of warnings) ctx.stderr.write(`warning: ${e(w)}\n`);
    const now = Date.now();
    const shown = incidents
      .filter((i) => values.all === true || !i.resolved_at || now - Date.parse(i.resolved_at) < RECENT_MS)
      .sort((a, b) => Number(!!a.resolved_at) - Number(!!b.resolved_at) || b.opened_at.localeCompare(a.opened_at));
    if (values.json === true) {
      ctx.stdout.write(safeJson(shown, 2) + "\n");
      return 0;
    }
    if (shown.length === 0) {
      ctx.stdout.write(NO_INCIDENTS + "\n");
      return 0;
    }
    ctx.stdout.write(plainTable(["id", "agent", "pid", "slo", "state", "opened", "detail"], listRows(shown, now)));
    return 0;
  },
};
