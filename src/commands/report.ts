import type { HistoryStore } from "../history/store.js";
import type { Report, ReportRow } from "../history/report.js";
import { GROUP_BY, type GroupBy } from "../history/report.js";
import { CommandError, UsageError, type CommandContext, type CommandSpec } from "../shell/command.js";
import { parseFlags } from "../shell/args.js";
import { plainTable } from "../term/table.js";
import { safeJson } from "../term/sanitize.js";
import { tildify } from "../util/home.js";
import { parseDuration } from "../util/duration.js";
import { CATALOG } from "./catalog.js";
import type { ObjectiveScope } from "../history/objectives.js";
import type { Objective } from "../slo/objectives.js";
import { HOUR_RETENTION_DAYS, MINUTE_RETENTION_DAYS } from "../history/retention.js";

const USAGE = CATALOG.report.usage;

/** A transcript tree this large read for the first time gets a line on stderr saying why the wait. */
const ANNOUNCE_BYTES = 64 * 1024 * 1024;

/**
 * A point in time from `--since`/`--until`: a local date (`2026-11-20`, `20261120`), a date
 * and time (`2026-11-20T10:00`, `…Z`), or a duration ago (`7d`, `12h`). A date given to
 * `--until` includes that whole day.
 */
export function parseWhen(raw: string, flag: string, now: number, end: boolean): number {
  const d = /^(\d{4})-?(\d{2})-?(\d{2})$/.exec(raw);
  if (d) {
    const [y, m, day] = [Number(d[1]), Number(d[2]), Number(d[3])];
    const t = new Date(y, m - 1, day + (end ? 1 : 0)).getTime();
    const check = new Date(y, m - 1, day);
    if (check.getFullYear() === y && check.getMonth() === m - 1 && check.getDate() === day) return t;
  } else if (/^\d{4}-\d{2}-\d{2}T/.test(raw)) {
    const t = Date.parse(raw);
    if (Number.isFinite(t)) return t;
  } else {
    const ago = parseDuration(raw);
    if (ago !== undefined) return now - ago;
  }
  throw new UsageError(`invalid ${flag}: ${raw} (a date such as 2026-11-20, a time such as 2026-11-20T10:00, or a duration ago such as 7d)`);
}

function grouped(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

function money(n: number): string {
  return n >= 1 ? `$${n.toFixed(2)}` : `$${n.toFixed(4)}`;
}

/** 850ms, 31.7s, 2m05s, 1h12m. */
export function fmtMs(ms: number | null): string {
  if (ms === null) return "-";
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const s = Math.round(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

function stamp(t: number): string {
  const d = new Date(t);
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`;
}

const HEAD = ["requests", "err%", "input", "output", "cache write", "cache read", "tokens", "cost", "p50", "p95", "incidents", "MTTA", "MTTR"];

/** `2/2 met` and the lowest budget left, for groups with windowed objectives. */
function sloCells(r: ReportRow): string[] {
  const o = r.objectives;
  if (!o?.length) return ["-", "-"];
  const judged = o.filter((x) => x.met !== null);
  const left = o.map((x) => x.budgetRemainingPct).filter((x): x is number => x !== null);
  return [judged.length ? `${judged.filter((x) => x.met).length}/${o.length} met` : "-", left.length ? `${Math.min(...left).toFixed(0)}%` : "-"];
}

function cells(r: ReportRow): string[] {
  const t = r.tokens;
  return [
    grouped(r.requests),
    r.errorPct === null ? "-" : r.errorPct.toFixed(1),
    grouped(t.input),
    grouped(t.output),
    grouped(t.cacheWrite5m + t.cacheWrite1h),
    grouped(t.cacheRead),
    grouped(t.total),
    money(r.usd) + (r.unpricedRequests ? "+" : ""),
    fmtMs(r.latencyP50Ms),
    fmtMs(r.latencyP95Ms),
    r.incidents ? String(r.incidents.count) : "-",
    r.incidents ? fmtMs(r.incidents.mttaMs) : "-",
    r.incidents ? fmtMs(r.incidents.mttrMs) : "-",
  ];
}

export function renderReport(rep: Report): string {
  if (rep.rows.length === 0) return `no usage recorded${rep.from !== null ? ` from ${stamp(rep.from)}` : ""} to ${stamp(rep.to)}\n`;
  const slo = rep.rows.some((r) => r.objectives?.length);
  const rows = rep.rows.map((r) => [r.key, ...cells(r), ...(slo ? sloCells(r) : [])]);
  rows.push(["total", ...cells(rep.total), ...(slo ? ["", ""] : [])]);
  let out = plainTable([rep.by, ...HEAD, ...(slo ? ["slo", "budget left"] : [])], rows);
  out += `${rep.from === null ? "all history" : `from ${stamp(rep.from)}`} to ${stamp(rep.to)} (local time), read at ${rep.resolution} resolution; latency is per turn`;
  if (rep.total.unpricedRequests) out += `; +: ${grouped(rep.total.unpricedRequests)} requests of unpriced models not in the cost`;
  return out + "\n";
}

const CSV_HEAD = [
  "group",
  "sessions",
  "requests",
  "errors",
  "error_pct",
  "input_tokens",
  "output_tokens",
  "reasoning_tokens",
  "cache_write_5m_tokens",
  "cache_write_1h_tokens",
  "cache_read_tokens",
  "total_tokens",
  "cost_usd",
  "unpriced_requests",
  "turns",
  "latency_p50_ms",
  "latency_p95_ms",
  "incidents",
  "mtta_ms",
  "mttr_ms",
  "objectives",
  "objectives_met",
  "budget_left_pct",
];

function csvField(v: string | number | null): string {
  if (v === null) return "";
  const s = typeof v === "number" ? String(Number.isInteger(v) ? v : Number(v.toFixed(6))) : v;
  // a leading =, +, - or @ would be a formula in a spreadsheet
  const safe = /^[=+\-@]/.test(s) && typeof v === "string" ? `'${s}` : s;
  return /[",\n\r]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

function minOrNull(xs: Array<number | null>): number | null {
  const v = xs.filter((x): x is number => x !== null);
  return v.length ? Math.min(...v) : null;
}

export function reportCsv(rep: Report): string {
  const line = (r: ReportRow) =>
    [
      r.key,
      r.sessions,
      r.requests,
      r.errors,
      r.errorPct,
      r.tokens.input,
      r.tokens.output,
      r.tokens.reasoning,
      r.tokens.cacheWrite5m,
      r.tokens.cacheWrite1h,
      r.tokens.cacheRead,
      r.tokens.total,
      r.usd,
      r.unpricedRequests,
      r.turns,
      r.latencyP50Ms === null ? null : Math.round(r.latencyP50Ms),
      r.latencyP95Ms === null ? null : Math.round(r.latencyP95Ms),
      r.incidents?.count ?? null,
      r.incidents?.mttaMs === null || r.incidents === null ? null : Math.round(r.incidents.mttaMs),
      r.incidents?.mttrMs === null || r.incidents === null ? null : Math.round(r.incidents.mttrMs),
      r.objectives?.length ? r.objectives.map((o) => `${o.objective} over ${o.window}`).join("; ") : null,
      r.objectives?.length ? r.objectives.filter((o) => o.met).length : null,
      r.objectives?.length ? minOrNull(r.objectives.map((o) => o.budgetRemainingPct)) : null,
    ]
      .map(csvField)
      .join(",");
  return [CSV_HEAD.join(","), ...rep.rows.map(line), line(rep.total)].join("\n") + "\n";
}

function fmtSize(n: number): string {
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(0)} KB`;
  if (n < 1024 * 1024 * 1024) return `${(n / (1024 * 1024)).toFixed(1)} MB`;
  return `${(n / (1024 * 1024 * 1024)).toFixed(2)} GB`;
}

/** Open the history store for a command: a missing driver or an unusable database is a CommandError with the reason. */
export async function openHistory(ctx: Pick<CommandContext, "home" | "env">): Promise<HistoryStore> {
  const { HistoryStore } = await import("../history/store.js");
  try {
    return HistoryStore.open(ctx.home, ctx.env);
  } catch (err) {
    const name = (err as Error).name;
    if (name === "HistoryUnavailableError" || name === "HistoryError") throw new CommandError((err as Error).message);
    throw err;
  }
}

/** Bring the store up to date with the transcripts and incidents (warnings on stderr; a failure is a CommandError). */
export async function updateHistory(store: HistoryStore, ctx: CommandContext): Promise<void> {
  const { HistoryIngest } = await import("../history/ingest.js");
  const { syncIncidents } = await import("../history/incidents.js");
  const ingest = new HistoryIngest(store, { env: ctx.env });
  try {
    const { jobs } = await ingest.changedFiles();
    const pending = jobs.reduce((n, j) => n + Math.max(0, j.size - j.row.offset), 0);
    if (pending >= ANNOUNCE_BYTES) ctx.stderr.write(`reading ${fmtSize(pending)} of transcripts into ${tildify(store.path)} (once; later runs read only what is new)\n`);
    await ingest.refresh();
    const { prune, PRUNE_EVERY_MS } = await import("../history/retention.js");
    if (Date.now() - Number(store.read(() => store.getMeta("pruned_at")) ?? 0) >= PRUNE_EVERY_MS) prune(store, Date.now());
    for (const w of syncIncidents(store, ctx.home).warnings) ctx.stderr.write(`warning: ${w}\n`);
    // a day table left stale (migrated, or written in another time zone) is rebuilt once; until then reports read hours
    if (store.read(() => store.daysStale())) store.rebuildDays();
  } catch (err) {
    if ((err as Error).name === "HistoryError") throw new CommandError((err as Error).message);
    throw err;
  } finally {
    for (const w of ingest.drainWarnings()) ctx.stderr.write(`warning: ${w}\n`);
  }
}

export const reportCommand: CommandSpec = {
  ...CATALOG.report,
  async run(args, ctx) {
    const { values, positionals } = parseFlags(
      args,
      { by: { type: "string" }, since: { type: "string" }, until: { type: "string" }, json: { type: "boolean" }, csv: { type: "boolean" }, store: { type: "boolean" } },
      USAGE,
    );
    if (positionals.length) throw new UsageError(USAGE);
    if (values.json && values.csv) throw new UsageError(`--json and --csv cannot be used together\n${USAGE}`);
    const by = (values.by as string | undefined) ?? "agent";
    if (!(GROUP_BY as readonly string[]).includes(by)) throw new UsageError(`invalid --by: ${by} (one of ${GROUP_BY.join(", ")})`);
    const now = Date.now();
    const since = values.since !== undefined ? parseWhen(values.since as string, "--since", now, false) : null;
    const until = values.until !== undefined ? parseWhen(values.until as string, "--until", now, true) : null;
    if (since !== null && until !== null && since >= until) throw new UsageError(`invalid range: --since must be before --until`);
    const store = await openHistory(ctx);
    try {
      if (values.store) {
        const { storeInfo } = await import("../history/store.js");
        return printStore(storeInfo(store), ctx, values.json === true);
      }
      await updateHistory(store, ctx);
      const { buildReport, addObjectives } = await import("../history/report.js");
      const rep = buildReport(store, { by: by as GroupBy, since, until, now });
      if (by === "agent" || by === "provider") addObjectives(store, rep, await objectivesFor(ctx, by));
      if (values.json) ctx.stdout.write(safeJson(rep, 2) + "\n");
      else if (values.csv) ctx.stdout.write(reportCsv(rep));
      else ctx.stdout.write(renderReport(rep));
      return 0;
    } finally {
      store.close();
    }
  },
};

function printStore(info: import("../history/store.js").StoreInfo, ctx: CommandContext, json: boolean): number {
  if (json) {
    ctx.stdout.write(safeJson(info, 2) + "\n");
    return 0;
  }
  const rows = [
    ["size", `${fmtSize(info.bytes)} (database, write-ahead log and index)`],
    ["schema", `version ${info.schemaVersion}`],
    ["transcripts", `${grouped(info.files)} files, ${grouped(info.sessions)} sessions`],
    ["usage", `${grouped(info.minuteRows)} minute rows, ${grouped(info.hourRows)} hour rows, ${grouped(info.dayRows)} day rows${info.dayZone === "" ? " (rebuilt by the next report)" : ""}, ${grouped(info.responseKeys)} response keys`],
    ["incidents", grouped(info.incidents)],
    ["kept", `minutes ${MINUTE_RETENTION_DAYS} days, hours ${HOUR_RETENTION_DAYS} days`],
    ["span", info.oldest === null ? "empty" : `${stamp(info.oldest)} to ${stamp(info.newest! + 3_600_000)} (local time)`],
  ];
  ctx.stdout.write(`history store ${tildify(info.path)}\n`);
  for (const [k, v] of rows) ctx.stdout.write(`${k!.padEnd(12)}${v}\n`);
  return 0;
}

/** Each report group's objectives from agents.yaml (an agent's own entry over its provider's default). */
async function objectivesFor(ctx: CommandContext, by: "agent" | "provider"): Promise<(row: ReportRow) => { scope: ObjectiveScope; objectives: Objective[] } | null> {
  const { loadConfig, settingsFor } = await import("../slo/config.js");
  const { objectivesOf } = await import("../slo/objectives.js");
  let config;
  try {
    config = loadConfig(ctx.home);
  } catch (err) {
    ctx.stderr.write(`warning: ${(err as Error).message} (objectives not shown)\n`);
    return () => null;
  }
  return (row) => {
    if (by === "provider") {
      const s = config.providers[row.key];
      return s ? { scope: { provider: row.key }, objectives: objectivesOf(s) } : null;
    }
    if (!row.named && !config.agents[row.key]) return null; // a session never seen running as an agent
    return { scope: { agent: row.key }, objectives: objectivesOf(settingsFor(config, row.key, row.providers[0] ?? "")) };
  };
}
