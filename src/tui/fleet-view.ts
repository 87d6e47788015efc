import { join } from "node:path";
import { BUS_SOCKET_NAME, BusClosedError, liveBroker, Subscription, brokerStats, type BusMessage } from "../bus/index.js";
import type { FleetAgent, FleetSnapshot } from "../fleet/model.js";
import { isSameProcess, unixSocketConnections } from "../fleet/procfs.js";
import { followTranscript } from "../fleet/transcripts/follow.js";
import type { CommandContext } from "../shell/command.js";
import { closeIncident, readIncidents, type Incident } from "../slo/incidents.js";
import { checkKill, killAgent, killQuestion } from "../slo/kill.js";
import { rawOutput } from "../term/output.js";
import { escapeText } from "../term/sanitize.js";
import { runTraceSession } from "../trace/session.js";
import { agentKey, CpuHistory } from "./history.js";
import { KeyDecoder, type Key } from "./keys.js";
import {
  detailsLines,
  fleetTotals,
  headerLine,
  helpLines,
  incidentLines,
  incidentListLines,
  listLines,
  matchesFilter,
  screenText,
  sortAgents,
  SORTS,
  type SloLine,
  type ToolCall,
} from "./pages.js";
import { colourWanted, line, Screen, text, type Line, type Style } from "./screen.js";

/** Where the view gets its data: the command layer wires the collector, the config and the transcripts in. */
export interface FleetSource {
  /** One refresh of the fleet (the one-shot `/agents` does exactly one). */
  take(): Promise<FleetSnapshot>;
  /** The agent's last tool calls from its transcript, oldest first. */
  toolCalls(agent: FleetAgent, max: number): ToolCall[];
  /** The SLOs configured for the agent, evaluated now. */
  slos(agent: FleetAgent, now: number): SloLine[];
}

export interface FleetViewOptions {
  source: FleetSource;
  intervalMs: number;
  /** First word of the header: `opensre top`. */
  title: string;
  /** For tests and the benchmark: called after each frame is drawn, with what caused it. */
  onFrame?: (cause: "refresh" | "key" | "data") => void;
}

/** Lines of a trace or of the bus kept for scrolling back; older lines are dropped. */
export const TEXT_LINES = 5000;
/** Tool calls shown in the details page. */
export const DETAIL_TOOLS = 8;

type Page = "list" | "details" | "trace" | "bus" | "incidents" | "incident" | "help";

export interface TextPane {
  title: string;
  lines: string[];
  partial: string;
  /** Lines scrolled back from the end (0: following). */
  back: number;
  status: { text: string; style: Style } | null;
  abort: AbortController;
}

export function pane(title: string): TextPane {
  return { title, lines: [], partial: "", back: 0, status: null, abort: new AbortController() };
}

/** Add text to a pane; each line goes through `show` (it must return escaped text). */
export function pushText(p: TextPane, chunk: string, show: (line: string) => string): void {
  const parts = (p.partial + chunk).split("\n");
  p.partial = parts.pop() ?? "";
  for (const l of parts) p.lines.push(show(l));
  if (p.partial.length > 64 * 1024) {
    p.lines.push(show(p.partial));
    p.partial = "";
  }
  if (p.lines.length > TEXT_LINES) p.lines.splice(0, p.lines.length - TEXT_LINES);
}

/** A line of a traced stdout, already through the trace filter: colours dropped, tabs as spaces, escaped. */
const stdoutLine = (l: string): string => screenText(l);
/** A line of a transcript or a notice: every control shown escaped. */
const escapedLine = (l: string): string => escapeText(l.replace(/\t/g, "  "));

function busLine(m: BusMessage): string {
  const at = Date.parse(m.timestamp);
  const clock = Number.isFinite(at) ? new Date(at).toTimeString().slice(0, 8) + " " : "";
  return `${clock}[${escapeText(m.agent)}] ${m.path ? `${escapeText(m.path)} — ` : ""}${escapeText(m.summary)}`;
}

/**
 * The live fleet view (`opensre top`, `/agents --watch` on a terminal): full screen on the
 * alternate screen, redrawn by line diff, with selection, sort, filter, details, trace, bus,
 * incidents and kill. Resolves when the user leaves (q, Ctrl+C) or the terminal goes away;
 * the terminal is given back as it was on every way out, a crash and SIGTERM included.
 */
export async function runFleetView(ctx: CommandContext, opts: FleetViewOptions): Promise<number> {
  const out = rawOutput(ctx.stdout);
  const screen = new Screen(out, colourWanted(ctx.env));
  const cpu = new CpuHistory();
  const stop = new AbortController();
  const busPath = join(ctx.home, BUS_SOCKET_NAME);

  let snap: FleetSnapshot | null = null;
  let incidents: Incident[] = [];
  let refreshError: string | null = null;
  const stack: Page[] = ["list"];
  let sort = 0;
  let filter = "";
  let editing: string | null = null;
  let selectedKey: string | null = null;
  let top = 0;
  let detailKey: string | null = null;
  let detailLabel = "";
  let detailScroll = 0;
  let incidentSel = 0;
  let incidentTop = 0;
  let incidentId: string | null = null;
  let incidentScroll = 0;
  let trace: TextPane | null = null;
  let bus: TextPane | null = null;
  let busSub: Subscription | null = null;
  let confirm: { question: string; yes: () => void } | null = null;
  let message: { text: string; style: Style } | null = null;
  let wake: (() => void) | null = null;
  /** Bus peers, counted once per refresh (not per keypress: it reads /proc/net/unix). */
  let peers: number | null = null;

  const page = () => stack[stack.length - 1]!;
  const visible = (): FleetAgent[] => sortAgents((snap?.agents ?? []).filter((a) => matchesFilter(a, filter)), SORTS[sort]!);
  const selected = (): FleetAgent | null => {
    const list = visible();
    return list.find((a) => agentKey(a) === selectedKey) ?? list[0] ?? null;
  };
  const flash = (t: string, style: Style = "bold") => (message = { text: t, style });

  // ---------------------------------------------------------------- drawing
  const bodyHeight = () => screen.rows - 3;

  function busPeers(): number | null {
    const mine = busSub ? 1 : 0;
    const hosted = brokerStats({ path: busPath });
    if (hosted) return Math.max(0, hosted.subscribers - mine);
    if (!liveBroker(busPath)) return null;
    const n = unixSocketConnections(busPath);
    return n === null ? null : Math.max(0, n - mine);
  }

  function textPage(p: TextPane, h: number): Line[] {
    const all = p.lines.concat(p.partial ? [p.partial] : []);
    const room = h - 1 - (p.status ? 1 : 0);
    const end = Math.max(0, all.length - p.back);
    const shown = all.slice(Math.max(0, end - room), end).map((l, i, arr) => line(text(p.partial && i === arr.length - 1 && end === all.length ? stdoutLine(l) : l)));
    const head = line(text(p.title, "bold"), text(p.back ? `  (scrolled back ${p.back} lines; End follows)` : "", "dim"));
    return [head, ...shown, ...(p.status ? [line(text(p.status.text, p.status.style))] : [])];
  }

  function body(h: number, cols: number): Line[] {
    const now = snap?.takenAt ?? Date.now();
    switch (page()) {
      case "list": {
        if (!snap) return [line(text("collecting the fleet…", "dim"))];
        const agents = visible();
        if (agents.length === 0) return [line(text(filter ? `no agent matches "${escapeText(filter)}"` : "no agents discovered or registered yet", "dim"))];
        let idx = agents.findIndex((a) => agentKey(a) === selectedKey);
        if (idx < 0) {
          idx = 0;
          selectedKey = agentKey(agents[0]!);
        }
        const rows = Math.max(1, h - 2);
        if (idx < top) top = idx;
        if (idx >= top + rows) top = idx - rows + 1;
        top = Math.max(0, Math.min(top, Math.max(0, agents.length - rows)));
        return listLines({ agents, selected: idx, top }, now, cols, h);
      }
      case "details": {
        const a = snap?.agents.find((x) => agentKey(x) === detailKey) ?? null;
        const all = detailsLines({
          agent: a,
          label: detailLabel,
          now,
          cpu,
          tools: a ? safe(() => opts.source.toolCalls(a, DETAIL_TOOLS), []) : [],
          incidents,
          slos: a ? safe(() => opts.source.slos(a, now), []) : [],
        });
        detailScroll = Math.max(0, Math.min(detailScroll, all.length - h));
        return all.slice(detailScroll, detailScroll + h);
      }
      case "trace":
        return trace ? textPage(trace, h) : [];
      case "bus":
        return bus ? textPage(bus, h) : [];
      case "incidents": {
        const list = incidentList();
        incidentSel = Math.max(0, Math.min(incidentSel, list.length - 1));
        if (incidentSel < incidentTop) incidentTop = incidentSel;
        if (incidentSel >= incidentTop + h - 1) incidentTop = incidentSel - h + 2;
        return incidentListLines(list, incidentSel, incidentTop, Date.now(), cols, h);
      }
      case "incident": {
        const i = incidents.find((x) => x.id === incidentId);
        if (!i) return [line(text("the incident is gone from incidents.jsonl", "dim"))];
        const all = incidentLines(i, Date.now());
        incidentScroll = Math.max(0, Math.min(incidentScroll, all.length - h));
        return all.slice(incidentScroll, incidentScroll + h);
      }
      case "help":
        return helpLines();
    }
  }

  function subtitle(): Line {
    switch (page()) {
      case "list": {
        const n = visible().length;
        const total = snap?.agents.length ?? 0;
        return line(
          text("sort ", "dim"),
          text(SORTS[sort]!, "bold"),
          text(filter ? "  filter " : "", "dim"),
          text(filter ? `"${escapeText(filter)}" (${n} of ${total})` : "", "bold"),
          ...(refreshError ? [text(`  refresh failed: ${escapeText(refreshError)}`, "error")] : []),
        );
      }
      case "details":
        return line(text("details", "bold"), text("  t trace · K kill · i incidents · Esc back", "dim"));
      case "trace":
        return line(text("trace", "bold"), text("  ↑/↓ PgUp/PgDn scroll · End follow · Esc back", "dim"));
      case "bus":
        return line(text("bus", "bold"), text("  findings between agents, live (nothing is replayed) · Esc back", "dim"));
      case "incidents":
        return line(text("incidents", "bold"), text("  Enter evidence · a acknowledge · r resolve · Esc back", "dim"));
      case "incident":
        return line(text("incident", "bold"), text("  a acknowledge · r resolve · ↑/↓ scroll · Esc back", "dim"));
      case "help":
        return line(text("help", "bold"), text("  Esc back", "dim"));
    }
  }

  function footer(): Line {
    if (editing !== null) return line(text("/", "key"), text(escapeText(editing)), text("▏", "dim"), text("  Enter keep · Esc clear", "dim"));
    if (confirm) return line(text(confirm.question, "warn"));
    if (message) return line(text(message.text, message.style));
    return line(text("? help · Enter details · t trace · b bus · i incidents · K kill · s sort · / filter · q quit", "dim"));
  }

  function draw(cause: "refresh" | "key" | "data"): void {
    if (stop.signal.aborted) return;
    const h = bodyHeight();
    const frame: Line[] = [headerLine(opts.title, fleetTotals(snap, incidents, peers), snap?.takenAt ?? null, screen.cols), subtitle()];
    const b = body(h, screen.cols);
    for (let i = 0; i < h; i++) frame.push(b[i] ?? line());
    frame.push(footer());
    screen.draw(frame);
    opts.onFrame?.(cause);
  }

  function incidentList(): Incident[] {
    const now = Date.now();
    return incidents
      .filter((i) => !i.resolved_at || now - Date.parse(i.resolved_at) < 24 * 3600_000)
      .sort((a, b) => Number(!!a.resolved_at) - Number(!!b.resolved_at) || b.opened_at.localeCompare(a.opened_at));
  }

  // ---------------------------------------------------------------- actions
  function openTrace(a: FleetAgent): void {
    closeTrace();
    const label = `${escapeText(a.name)} (pid ${a.pid})`;
    const p = pane(`trace ${label}`);
    trace = p;
    stack.push("trace");
    const tail = Math.max(1, bodyHeight() - 2);
    const done = (end: string) => {
      p.status = { text: end === "exited" ? "· process exited · trace ended" : "· trace ended", style: "dim" };
      draw("data");
    };
    const fail = (err: unknown) => {
      p.status = { text: escapeText((err as Error).message ?? String(err)), style: "error" };
      draw("data");
    };
    if (a.stdoutPath) {
      p.title = `trace ${label} stdout ${escapeText(a.stdoutPath)}`;
      runTraceSession({
        path: a.stdoutPath,
        pid: a.pid,
        fd: 1, // through /proc/<pid>/fd/1 itself, never by the name (another mount namespace)
        procRoot: ctx.env.OPENSRE_PROC_ROOT || undefined,
        startTime: a.startTime,
        signal: p.abort.signal,
        tailLines: tail,
        write: (o) => {
          pushText(p, typeof o === "string" ? o : o.toString("utf8"), stdoutLine);
          draw("data");
        },
        notice: (l) => {
          if (p.partial) pushText(p, "\n", stdoutLine);
          pushText(p, l + "\n", escapedLine);
          draw("data");
        },
      }).then((r) => !p.abort.signal.aborted && done(r.end), (e) => !p.abort.signal.aborted && fail(e));
    } else if (a.transcript) {
      followTranscript(a.pid, label, {
        home: ctx.home,
        env: ctx.env,
        procRoot: ctx.env.OPENSRE_PROC_ROOT || undefined,
        signal: p.abort.signal,
        tailLines: tail,
        onStart: (path) => {
          p.title = `trace ${label} transcript ${escapeText(path)}`;
          draw("data");
        },
        onLine: (l) => {
          pushText(p, l.replace(/\n/g, " ") + "\n", escapedLine);
          draw("data");
        },
      }).then((end) => !p.abort.signal.aborted && done(end), (e) => !p.abort.signal.aborted && fail(e));
    } else {
      p.status = { text: `cannot trace ${label}: stdout is not a regular file and no session transcript was found`, style: "error" };
    }
  }

  function closeTrace(): void {
    trace?.abort.abort();
    trace = null;
  }

  function openBus(): void {
    if (!bus) bus = pane(`bus ${escapeText(busPath)}`);
    stack.push("bus");
    if (busSub) return;
    const p = bus;
    p.status = { text: "attaching…", style: "dim" };
    Subscription.open({ path: busPath, signal: p.abort.signal }).then(
      async (sub) => {
        busSub = sub;
        peers = safe(busPeers, null);
        p.status = { text: `attached (broker pid ${sub.brokerPid})`, style: "dim" };
        draw("data");
        try {
          for await (const f of sub) {
            if (f.kind === "bad") pushText(p, `· skipped a bad frame: ${f.error.message}\n`, escapedLine);
            else if (f.kind === "message") pushText(p, busLine(f.message) + "\n", (l) => l);
            else if (f.kind === "dropped") pushText(p, `· dropped ${f.count} frame${f.count === 1 ? "" : "s"}\n`, escapedLine);
            else if (f.kind === "handover") pushText(p, `· bus broker (pid ${f.from}) stopped; attached to pid ${f.to}\n`, escapedLine);
            else continue;
            draw("data");
          }
        } catch (err) {
          p.status = { text: err instanceof BusClosedError ? `${err.message}; press Esc then b to attach again` : escapeText(String(err)), style: "error" };
        } finally {
          busSub = null;
          if (!stop.signal.aborted) {
            bus = { ...p, abort: new AbortController() };
            draw("data");
          }
        }
      },
      (err) => {
        p.status = { text: `cannot attach to the bus: ${escapeText((err as Error).message)}`, style: "error" };
        draw("data");
      },
    );
  }

  function askKill(a: FleetAgent): void {
    const check = checkKill(ctx.home, a.pid);
    if (!check.ok) return void flash(check.message, "error");
    if (!isSameProcess(a.pid, a.startTime)) return void flash(`no such process: pid ${a.pid}`, "error");
    confirm = {
      question: killQuestion(check.label),
      yes: () => {
        flash(`stopping ${check.label}…`, "warn");
        killAgent(ctx.home, a.pid, { startTime: check.startTime }).then(
          (r) => {
            flash(r.ok ? r.line : r.message, r.ok && r.exited ? "ok" : "error");
            wake?.();
          },
          (err) => flash(`kill failed: ${escapeText((err as Error).message)}`, "error"),
        );
      },
    };
  }

  function ackResolve(action: "ack" | "resolve", id: string | undefined): void {
    if (!id) return;
    closeIncident(ctx.home, id, action).then(
      (r) => {
        flash(escapeText(r.message), r.ok ? "ok" : "error");
        incidents = readIncidents(ctx.home).incidents;
        draw("data");
      },
      (err) => {
        flash(`cannot update the incident: ${escapeText((err as Error).message)}`, "error");
        draw("data");
      },
    );
  }

  function back(): void {
    const p = page();
    if (p === "list") {
      if (filter) filter = "";
      return;
    }
    stack.pop();
    if (p === "trace") closeTrace();
  }

  function scrollPane(p: TextPane, k: Key): boolean {
    const step = k.name === "pageup" || k.name === "pagedown" ? Math.max(1, bodyHeight() - 2) : 1;
    const max = Math.max(0, p.lines.length - 1);
    if (k.name === "up" || k.name === "pageup" || (k.name === "char" && k.char === "k")) p.back = Math.min(max, p.back + step);
    else if (k.name === "down" || k.name === "pagedown" || (k.name === "char" && k.char === "j")) p.back = Math.max(0, p.back - step);
    else if (k.name === "end" || (k.name === "char" && k.char === "G")) p.back = 0;
    else if (k.name === "home" || (k.name === "char" && k.char === "g")) p.back = max;
    else return false;
    return true;
  }

  function moveSelection(k: Key): boolean {
    const list = visible();
    if (list.length === 0) return false;
    let idx = Math.max(0, list.findIndex((a) => agentKey(a) === selectedKey));
    const pageRows = Math.max(1, bodyHeight() - 2);
    const c = k.name === "char" ? k.char : "";
    if (k.name === "up" || c === "k") idx--;
    else if (k.name === "down" || c === "j") idx++;
    else if (k.name === "pageup") idx -= pageRows;
    else if (k.name === "pagedown") idx += pageRows;
    else if (k.name === "home" || c === "g") idx = 0;
    else if (k.name === "end" || c === "G") idx = list.length - 1;
    else return false;
    idx = Math.max(0, Math.min(list.length - 1, idx));
    selectedKey = agentKey(list[idx]!);
    return true;
  }

  function onKey(k: Key): void {
    if (stop.signal.aborted) return;
    const c = k.name === "char" ? k.char : "";
    if (editing !== null) {
      if (k.name === "enter") {
        filter = editing;
        editing = null;
      } else if (k.name === "escape") {
        filter = "";
        editing = null;
      } else if (k.name === "backspace") {
        editing = [...editing].slice(0, -1).join("");
        filter = editing;
      } else if (c) {
        editing += c;
        filter = editing;
      }
      return draw("key");
    }
    if (confirm) {
      const yes = c === "y" || c === "Y";
      const act = confirm.yes;
      confirm = null;
      if (yes) act();
      else flash("Cancelled.");
      return draw("key");
    }
    message = null;
    if (c === "q") return void stop.abort();
    if (k.name === "escape") {
      back();
      return draw("key");
    }
    if (c === "?") {
      if (page() === "help") stack.pop();
      else stack.push("help");
      return draw("key");
    }
    const p = page();
    if (p === "list" || p === "details") {
      const a = p === "list" ? selected() : (snap?.agents.find((x) => agentKey(x) === detailKey) ?? null);
      if (p === "list" && moveSelection(k)) return draw("key");
      if (p === "details") {
        if (k.name === "up" || c === "k") detailScroll = Math.max(0, detailScroll - 1);
        else if (k.name === "down" || c === "j") detailScroll++;
      }
      if (p === "list" && k.name === "enter" && a) {
        detailKey = agentKey(a);
        detailLabel = `${escapeText(a.name)} (pid ${a.pid})`;
        detailScroll = 0;
        stack.push("details");
      } else if (c === "t" && a) openTrace(a);
      else if (c === "K" && a) askKill(a);
      else if (p === "list" && c === "s") sort = (sort + 1) % SORTS.length;
      else if (p === "list" && c === "/") editing = filter;
    } else if (p === "trace" || p === "bus") {
      const pn = p === "trace" ? trace : bus;
      if (pn) scrollPane(pn, k);
    } else if (p === "incidents") {
      const list = incidentList();
      if (k.name === "up" || c === "k") incidentSel = Math.max(0, incidentSel - 1);
      else if (k.name === "down" || c === "j") incidentSel = Math.min(list.length - 1, incidentSel + 1);
      else if (k.name === "enter" && list[incidentSel]) {
        incidentId = list[incidentSel]!.id;
        incidentScroll = 0;
        stack.push("incident");
      } else if (c === "a") ackResolve("ack", list[incidentSel]?.id);
      else if (c === "r") ackResolve("resolve", list[incidentSel]?.id);
    } else if (p === "incident") {
      if (k.name === "up" || c === "k") incidentScroll = Math.max(0, incidentScroll - 1);
      else if (k.name === "down" || c === "j") incidentScroll++;
      else if (k.name === "pagedown") incidentScroll += bodyHeight();
      else if (k.name === "pageup") incidentScroll = Math.max(0, incidentScroll - bodyHeight());
      else if (c === "a") ackResolve("ack", incidentId ?? undefined);
      else if (c === "r") ackResolve("resolve", incidentId ?? undefined);
    }
    if (c === "b" && p !== "bus" && p !== "help") openBus();
    else if (c === "i" && p !== "incidents" && p !== "incident" && p !== "help") {
      incidents = readIncidents(ctx.home).incidents;
      stack.push("incidents");
    }
    draw("key");
  }

  // ---------------------------------------------------------------- the terminal, and every way out
  const restore = () => {
    screen.leave();
    try {
      ctx.stdin.setRawMode?.(false);
    } catch {
      /* the terminal is gone */
    }
  };
  const onExit = () => restore();
  const onTerm = () => {
    restore();
    process.exit(143);
  };
  const onHup = () => {
    restore();
    process.exit(129);
  };
  const onOutError = () => stop.abort(); // EIO/EPIPE: the terminal went away
  const onInputEnd = () => stop.abort();
  const onResize = () => {
    screen.invalidate();
    draw("key");
  };
  const onAbort = () => stop.abort();

  const decoder = new KeyDecoder(onKey);
  process.on("exit", onExit);
  process.on("SIGTERM", onTerm);
  process.on("SIGHUP", onHup);
  out.on("error", onOutError);
  out.on("resize", onResize);
  ctx.stdin.on("end", onInputEnd);
  ctx.signal.addEventListener("abort", onAbort, { once: true });
  const offKey = ctx.onKey((ch) => decoder.push(ch));
  stop.signal.addEventListener("abort", () => wake?.(), { once: true });

  screen.enter();
  try {
    draw("key");
    while (!stop.signal.aborted) {
      try {
        const next = await opts.source.take();
        snap = next;
        cpu.record(next);
        refreshError = null;
      } catch (err) {
        refreshError = (err as Error).message ?? String(err);
      }
      try {
        incidents = readIncidents(ctx.home).incidents;
      } catch {
        /* keep the last good list */
      }
      peers = safe(busPeers, null);
      if (stop.signal.aborted) break;
      draw("refresh");
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, opts.intervalMs);
        function done() {
          clearTimeout(t);
          wake = null;
          resolve();
        }
        wake = done;
      });
    }
  } finally {
    decoder.dispose();
    closeTrace();
    (bus as TextPane | null)?.abort.abort();
    (busSub as Subscription | null)?.close();
    offKey?.();
    restore();
    process.off("exit", onExit);
    process.off("SIGTERM", onTerm);
    process.off("SIGHUP", onHup);
    out.off("error", onOutError);
    out.off("resize", onResize);
    ctx.stdin.off("end", onInputEnd);
    ctx.signal.removeEventListener("abort", onAbort);
  }
  return 0;
}

function safe<T>(f: () => T, fallback: T): T {
  try {
    return f();
  } catch {
    return fallback;
  }
}
