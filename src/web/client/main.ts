import { fmtAgo, fmtNum, fmtUsd } from "../../fleet/format.js";
import { fleetTotals, matchesFilter, sortAgents, statusKey, type SortKey } from "../../fleet/view.js";
import { FLEET_COLUMNS, agentCells } from "../../tui/fleet-table.js";
import type { BusLine, IncidentSummary, Range, SeriesResponse, SloGauge, WebAgent, WebState } from "../protocol.js";
import { TOKEN_HEADER } from "../protocol.js";
import { AgentCharts } from "./charts.js";
import { append, byId, clock, el, fill, multiline, text } from "./dom.js";

/**
 * The dashboard page: one event stream from the server (a `state` each refresh, `bus` lines as
 * they arrive), rendered with the same columns, sort and filter as the terminal views
 * (`tui/fleet-table.ts`, `fleet/view.ts`, bundled as they are). Actions POST to the server,
 * which runs them through the CLI's own library functions.
 */

const token = new URLSearchParams(location.search).get("token") ?? "";
const q = (path: string, params: Record<string, string> = {}) => `${path}?${new URLSearchParams({ ...params, token }).toString()}`;

/** The column heads that sort, and the sort key of each (the terminal view's `s` cycles the same keys). */
const SORTABLE: Record<string, SortKey> = { status: "status", "$/hr": "$/hr", "tokens/min": "tokens/min", "cpu%": "cpu", mem: "mem", uptime: "uptime" };
/** Bus lines the page keeps (the server keeps as many). */
const BUS_LINES = 200;

let state: WebState | null = null;
let sort: SortKey = "status";
let filter = "";
let selected: string | null = null;
let range: Range = "hour";
let bus: BusLine[] = [];
let openEvidence: string | null = null;
const charts = new AgentCharts(byId("charts"));

// ------------------------------------------------------------------ actions

async function post(path: string, body: Record<string, unknown> = {}): Promise<{ ok: boolean; message: string; question?: string }> {
  try {
    const r = await fetch(path, { method: "POST", headers: { "content-type": "application/json", [TOKEN_HEADER]: token }, body: JSON.stringify(body) });
    const type = r.headers.get("content-type") ?? "";
    if (type.startsWith("application/json")) return (await r.json()) as { ok: boolean; message: string };
    return { ok: false, message: (await r.text()).trim() };
  } catch (err) {
    return { ok: false, message: `the dashboard did not answer: ${(err as Error).message}` };
  }
}

function toast(message: string, ok: boolean): void {
  const box = byId("warnings");
  const line = el("p", { class: ok ? "toast ok" : "toast bad", role: "status" }, message);
  box.hidden = false;
  box.prepend(line);
  setTimeout(() => {
    line.remove();
    if (!box.childElementCount) box.hidden = true;
  }, 8000);
}

async function incidentAction(id: string, action: "ack" | "resolve"): Promise<void> {
  const r = await post(`/api/incidents/${encodeURIComponent(id)}/${action}`);
  toast(r.message, r.ok);
}

/** Kill, as `opensre agents kill` does it: the guards, then the same question, then SIGTERM → SIGKILL. */
async function kill(a: WebAgent): Promise<void> {
  const check = await post(`/api/agents/${a.pid}/kill-check`, { startTime: a.startTime });
  if (!check.ok || !check.question) return toast(check.message, false);
  const dialog = byId<HTMLDialogElement>("confirm");
  fill(byId("confirm-text"), check.question);
  const yes = await new Promise<boolean>((resolve) => {
    const done = (v: boolean) => () => {
      dialog.close();
      resolve(v);
    };
    byId("confirm-yes").onclick = done(true);
    byId("confirm-no").onclick = done(false);
    dialog.oncancel = done(false);
    dialog.showModal();
  });
  if (!yes) return toast("Cancelled.", true);
  toast(`stopping pid ${a.pid}…`, true);
  const r = await post(`/api/agents/${a.pid}/kill`, { startTime: a.startTime, confirm: true });
  toast(r.message, r.ok);
}

// ------------------------------------------------------------------ header

function renderHeader(s: WebState): void {
  const t = fleetTotals(s, s.incidents, null);
  const plural = (n: number, one: string) => `${n} ${one}${n === 1 ? "" : "s"}`;
  fill(
    byId("totals"),
    el("b", null, plural(t.agents, "agent")),
    " · ",
    el("b", null, `${fmtUsd(t.usdPerHour)}/hr`),
    " · ",
    el("b", null, `${fmtNum(t.tokensPerMin)} tokens/min`),
    " · ",
    el("b", { class: t.openIncidents ? "st-breach" : "" }, plural(t.openIncidents, "open incident")),
  );
  fill(byId("conn"), el("span", { class: "live-dot" }), `live · every ${s.refreshMs / 1000}s · ${clock(s.takenAt)}`);
  const w = byId("warnings");
  for (const p of [...w.querySelectorAll("p.warning")]) p.remove();
  for (const line of s.warnings) w.appendChild(el("p", { class: "warning" }, `warning: ${line}`));
  w.hidden = w.childElementCount === 0;
}

// ------------------------------------------------------------------ fleet

function renderFleet(s: WebState): void {
  const table = byId<HTMLTableElement>("fleet-table");
  const heads = table.tHead!.rows[0]!.cells;
  FLEET_COLUMNS.forEach((c, i) => {
    const th = heads[i]!;
    const key = SORTABLE[c.head];
    if (!key) return;
    th.classList.add("sortable");
    th.setAttribute("aria-sort", key === sort ? "descending" : "none");
    th.onclick = () => {
      sort = key;
      renderFleet(state!);
    };
  });
  const shown = sortAgents(s.agents.filter((a) => matchesFilter(a, filter)), sort) as WebAgent[];
  if (selected === null || !s.agents.some((a) => a.key === selected)) {
    const next = shown[0]?.key ?? null;
    if (next !== selected) {
      selected = next;
      void loadSeries();
    }
  }
  const rows = shown.map((a) => {
    const cells = agentCells(a, s.takenAt, false);
    const st = statusKey(a);
    const tr = el(
      "tr",
      { class: `row st-row-${st}${a.key === selected ? " selected" : ""}`, "data-key": a.key, "data-pid": a.pid, tabindex: 0 },
      ...cells.map((c, i) => el("td", { class: FLEET_COLUMNS[i]!.head === "status" ? `status st-${st}` : FLEET_COLUMNS[i]!.head === "agent" ? "name" : "num" }, c)),
    );
    const killBtn = el("button", { type: "button", class: "danger small", title: `kill pid ${a.pid}` }, "kill");
    killBtn.onclick = (e) => {
      e.stopPropagation();
      void kill(a);
    };
    tr.appendChild(el("td", { class: "actions-col" }, killBtn));
    const pick = () => {
      selected = a.key;
      renderFleet(state!);
      void loadSeries();
    };
    tr.onclick = pick;
    tr.onkeydown = (e) => {
      if (e.key === "Enter") pick();
    };
    return tr;
  });
  if (rows.length === 0) {
    rows.push(el("tr", null, el("td", { colspan: FLEET_COLUMNS.length + 1, class: "dim" }, filter ? `no agent matches "${filter}"` : "no agents discovered or registered yet")));
  }
  fill(table.tBodies[0]!, ...rows);
  fill(byId("fleet-count"), filter ? `${shown.length} of ${s.agents.length}` : "");
  const unpriced = [...new Set(s.agents.filter((a) => a.transcript?.unpriced).map((a) => a.transcript!.model ?? "?"))];
  fill(
    byId("fleet-foot"),
    `sort: ${sort} (click a column head) · prices as of ${s.pricesAsOf}; rates over the last 5 min of each agent's own transcript` +
      (unpriced.length ? `; unpriced: ${unpriced.join(", ")} (set a price in agents.yaml)` : ""),
  );
  const a = s.agents.find((x) => x.key === selected);
  fill(byId("agent-name"), a ? `${a.name} (pid ${a.pid}${a.transcript?.model ? `, ${a.transcript.model}` : ""})` : "");
}

// ------------------------------------------------------------------ charts

let seriesToken = 0;
async function loadSeries(): Promise<void> {
  const mine = ++seriesToken;
  const note = byId("series-note");
  if (!selected) {
    charts.clear("select an agent in the table");
    note.hidden = true;
    return;
  }
  let s: SeriesResponse;
  try {
    const r = await fetch(q("/api/series", { agent: selected, range }));
    const body = (await r.json()) as SeriesResponse | { message: string };
    if (!r.ok) throw new Error((body as { message: string }).message);
    s = body as SeriesResponse;
  } catch (err) {
    if (mine === seriesToken) charts.clear(`no series: ${(err as Error).message}`);
    return;
  }
  if (mine !== seriesToken) return; // a newer request (another agent or range) won
  try {
    charts.show(s);
  } catch (err) {
    charts.clear(`cannot draw the charts: ${(err as Error).message}`);
  }
  byId("charts").dataset.range = s.range;
  byId("charts").dataset.source = s.source;
  note.hidden = !s.note;
  fill(note, s.note ?? "");
}

for (const b of document.querySelectorAll<HTMLButtonElement>(".ranges button")) {
  b.onclick = () => {
    range = b.dataset.range as Range;
    for (const x of document.querySelectorAll<HTMLButtonElement>(".ranges button")) x.setAttribute("aria-pressed", String(x === b));
    void loadSeries();
  };
}

// ------------------------------------------------------------------ SLOs

function gauge(g: SloGauge): HTMLElement {
  const used = g.usedPct;
  const width = used === null ? 0 : Math.max(0, Math.min(100, used));
  const level = g.breached ? "breach" : used !== null && used >= 80 ? "warn" : "ok";
  const win = g.window;
  return el(
    "div",
    { class: `gauge ${level}`, "data-slo": g.slo, "data-key": g.key },
    el("div", { class: "gauge-head" }, el("span", { class: "name" }, `${g.agent} · ${g.slo}`), el("span", { class: "dim" }, g.target)),
    el("div", { class: "meter", role: "meter", "aria-valuemin": 0, "aria-valuemax": 100, "aria-valuenow": used === null ? null : Math.round(used), "aria-label": `${g.slo} used` }, el("div", { class: "fill", style: `width:${width.toFixed(1)}%` })),
    el(
      "div",
      { class: "gauge-foot" },
      el("span", null, used === null ? "used: -" : `used ${used.toFixed(0)}%`),
      g.burn === null ? null : el("span", { class: g.burn >= 1 ? "st-breach" : "" }, `burn ${g.burn.toFixed(2)}×`),
      g.breached ? el("span", { class: "st-breach" }, "breached") : null,
    ),
    win ? el("div", { class: "gauge-foot dim" }, `${win.label}: budget left ${win.budgetLeftPct === null ? "-" : win.budgetLeftPct.toFixed(0) + "%"}${win.burnRate === null ? "" : ` · burn ${win.burnRate.toFixed(2)}×`}`) : null,
    el("div", { class: "detail dim" }, g.detail),
  );
}

function renderSlos(s: WebState): void {
  const list = byId("slo-list");
  if (s.slos.length === 0) return fill(list, el("p", { class: "dim" }, "no SLOs apply to the running agents (set them with opensre agents budget)"));
  fill(list, ...s.slos.map(gauge));
}

// ------------------------------------------------------------------ incidents

const DAY = 24 * 60 * 60_000;

function state3(i: IncidentSummary): "open" | "acked" | "resolved" {
  return i.resolved_at ? "resolved" : i.acked_at ? "acked" : "open";
}

function renderTimeline(s: WebState): void {
  const now = s.takenAt;
  const from = now - DAY;
  const bars = s.incidents
    .filter((i) => (i.resolved_at ? Date.parse(i.resolved_at) : now) >= from)
    .slice(0, 50)
    .map((i, row) => {
      const start = Math.max(from, Date.parse(i.opened_at));
      const end = i.resolved_at ? Date.parse(i.resolved_at) : now;
      const left = (100 * (start - from)) / DAY;
      const width = Math.max(0.4, (100 * (end - start)) / DAY);
      const bar = el(
        "div",
        { class: `bar ${state3(i)}`, style: `left:${left.toFixed(2)}%;width:${width.toFixed(2)}%;top:${row * 18}px`, title: `${i.id} ${i.agent} · ${i.slo}: ${i.detail}` },
        `${i.agent} · ${i.slo}`,
      );
      bar.onclick = () => void showEvidence(i.id);
      return bar;
    });
  const ticks = [0, 6, 12, 18, 24].map((h) => el("span", { class: "tick", style: `left:${(100 * h) / 24}%` }, h === 24 ? "now" : `-${24 - h}h`));
  const box = byId("timeline");
  box.style.height = `${Math.max(1, bars.length) * 18 + 20}px`;
  fill(box, ...ticks, ...bars);
}

function renderIncidents(s: WebState): void {
  const open = s.incidents.filter((i) => !i.resolved_at).length;
  fill(byId("incident-count"), `${open} open · ${s.incidents.length} shown`);
  renderTimeline(s);
  const rows = s.incidents.map((i) => {
    const st = state3(i);
    const buttons: HTMLElement[] = [];
    const add = (label: string, f: () => void, cls = "") => {
      const b = el("button", { type: "button", class: `small ${cls}`, "data-action": label }, label);
      b.onclick = (e) => {
        e.stopPropagation();
        f();
      };
      buttons.push(b);
    };
    if (st === "open") add("ack", () => void incidentAction(i.id, "ack"));
    if (st !== "resolved") add("resolve", () => void incidentAction(i.id, "resolve"));
    add("evidence", () => void showEvidence(i.id));
    return el(
      "tr",
      { class: `inc-${st}`, "data-id": i.id },
      el("td", { class: "mono" }, i.id),
      el("td", { class: "name" }, i.agent),
      el("td", { class: "num" }, i.pid),
      el("td", null, i.slo),
      el("td", { class: `state st-${st === "open" ? "breach" : st === "acked" ? "stuck" : "idle"}` }, st),
      el("td", null, fmtAgo(Date.parse(i.opened_at), s.takenAt)),
      el("td", { class: "detail" }, i.detail),
      el("td", { class: "actions-col" }, ...buttons),
    );
  });
  if (rows.length === 0) rows.push(el("tr", null, el("td", { colspan: 8, class: "dim" }, "no incidents")));
  fill(byId<HTMLTableElement>("incident-table").tBodies[0]!, ...rows);
  if (openEvidence) void showEvidence(openEvidence, true);
}

interface FullIncident extends IncidentSummary {
  evidence: { source: string | null; output: string; signals: Record<string, unknown>; resources: Record<string, unknown> };
}

let evidenceShown = "";
async function showEvidence(id: string, quiet = false): Promise<void> {
  const r = await fetch(q(`/api/incidents/${encodeURIComponent(id)}`));
  if (!r.ok) {
    if (!quiet) toast(((await r.json()) as { message: string }).message, false);
    return;
  }
  const i = (await r.json()) as FullIncident;
  const box = byId("evidence");
  const key = JSON.stringify([i.id, i.acked_at, i.resolved_at, i.kills.length]);
  if (quiet && key === evidenceShown) return;
  evidenceShown = key;
  openEvidence = id;
  const events: [string, string][] = [[i.opened_at, `opened: ${i.detail}`]];
  if (i.acked_at) events.push([i.acked_at, "acknowledged"]);
  for (const k of i.kills) events.push([k.at, `kill (${k.signal}): ${k.outcome}`]);
  if (i.resolved_at) events.push([i.resolved_at, `resolved: ${i.resolution ?? "-"}`]);
  events.sort((a, b) => a[0].localeCompare(b[0]));
  const sig = i.evidence?.signals ?? {};
  const close = el("button", { type: "button", class: "small" }, "close");
  close.onclick = () => {
    box.hidden = true;
    openEvidence = null;
    evidenceShown = "";
  };
  fill(
    box,
    el("div", { class: "section-head" }, el("h3", null, `incident ${i.id} · ${i.agent} (pid ${i.pid}) · ${i.slo} · ${state3(i)}`), close),
    el("ol", { class: "events" }, ...events.map(([at, what]) => el("li", null, el("span", { class: "dim mono" }, `${at.slice(0, 19).replace("T", " ")} UTC `), what))),
    el("p", { class: "dim" }, `signals at the time: ${Object.entries(sig).map(([k, v]) => `${k} ${v === null ? "-" : String(v)}`).join(" · ")}`),
    i.evidence?.source ? el("p", { class: "dim" }, `last ${i.evidence.output.length} characters of ${i.evidence.source}:`) : el("p", { class: "dim" }, "no output file or transcript was readable"),
    i.evidence?.source ? el("pre", { class: "output" }, document.createTextNode(multiline(i.evidence.output))) : null,
  );
  box.hidden = false;
  box.dataset.id = i.id;
}

// ------------------------------------------------------------------ conflicts, bus

function renderConflicts(s: WebState): void {
  const rows = s.conflicts.map((c) =>
    el(
      "tr",
      null,
      el("td", { class: "path" }, c.path),
      el("td", null, c.agents.map((a) => `${a.name} (${a.pid})`).join(", ")),
      el("td", { class: "num" }, c.writes),
      el("td", null, clock(c.firstSeen)),
      el("td", null, clock(c.lastSeen)),
    ),
  );
  if (rows.length === 0) rows.push(el("tr", null, el("td", { colspan: 5, class: "dim" }, `no conflicts in the last hour (two agents writing one file within ${s.conflictWindowMs / 1000}s)`)));
  fill(byId<HTMLTableElement>("conflict-table").tBodies[0]!, ...rows);
  fill(byId("shared-worktrees"), ...s.sharedWorktrees.map((w) => el("li", { class: "st-stuck" }, w)));
}

function busItem(m: BusLine): HTMLElement {
  return el(
    "li",
    { "data-seq": m.seq },
    el("span", { class: "dim mono" }, clock(m.receivedAt)),
    " ",
    el("span", { class: "bus-agent" }, `[${m.agent}]`),
    " ",
    m.topic !== "finding" ? el("span", { class: "tag" }, m.topic) : null,
    m.path ? el("span", { class: "path" }, `${m.path} — `) : null,
    m.summary,
  );
}

function renderBus(): void {
  const list = byId("bus-tail");
  if (bus.length === 0) return fill(list, el("li", { class: "dim" }, "no messages yet (opensre agents publish, or an agent's own)"));
  fill(list, ...bus.slice().reverse().map(busItem));
}

function renderBusState(s: WebState): void {
  fill(byId("bus-state"), s.bus.connected ? "subscribed" : s.bus.message ?? "not subscribed");
}

// ------------------------------------------------------------------ the stream

function onState(s: WebState): void {
  const first = state === null;
  const previous = state;
  state = s;
  renderHeader(s);
  renderFleet(s);
  renderSlos(s);
  renderIncidents(s);
  renderConflicts(s);
  renderBusState(s);
  document.body.dataset.seq = String(s.seq);
  // the live hour moves at every refresh; day and week when the history store was brought up to date
  if (!first && (range === "hour" || s.history.updatedAt !== previous?.history.updatedAt)) void loadSeries();
}

function connect(): void {
  const es = new EventSource(q("/events"));
  es.addEventListener("state", (e) => onState(JSON.parse((e as MessageEvent<string>).data) as WebState));
  es.addEventListener("bus-tail", (e) => {
    bus = (JSON.parse((e as MessageEvent<string>).data) as BusLine[]).slice(-BUS_LINES);
    renderBus();
  });
  es.addEventListener("bus", (e) => {
    const m = JSON.parse((e as MessageEvent<string>).data) as BusLine;
    if (bus.length && bus[bus.length - 1]!.seq >= m.seq) return;
    bus.push(m);
    if (bus.length > BUS_LINES) bus.splice(0, bus.length - BUS_LINES);
    const list = byId("bus-tail");
    if (bus.length === 1) list.replaceChildren();
    list.prepend(busItem(m));
    while (list.childElementCount > BUS_LINES) list.lastElementChild!.remove();
  });
  es.onopen = () => byId("conn").classList.remove("down");
  es.onerror = () => {
    const conn = byId("conn");
    conn.classList.add("down");
    fill(conn, es.readyState === EventSource.CLOSED ? "stopped: the dashboard is not running, or its token changed (open the URL it printed)" : "disconnected · retrying…");
  };
}

byId<HTMLInputElement>("filter").addEventListener("input", (e) => {
  filter = (e.target as HTMLInputElement).value;
  if (state) renderFleet(state);
});

append(document.body);
renderBus();
connect();
