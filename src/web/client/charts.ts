import uPlot from "uplot";
import type { SeriesResponse } from "../protocol.js";
import { clock, el, fill } from "./dom.js";

/** One chart of the agent panel: which series it draws and how its numbers read. */
interface ChartSpec {
  id: string;
  title: string;
  series: { key: keyof SeriesResponse; label: string; colour: string }[];
  fmt: (v: number) => string;
}

const num = (v: number, d = 0) => (Math.abs(v) >= 1000 ? `${(v / 1000).toFixed(1)}k` : v.toFixed(d));

export const CHARTS: readonly ChartSpec[] = [
  { id: "tokens", title: "tokens/min", series: [{ key: "tokensPerMin", label: "tokens/min", colour: "#6cb6ff" }], fmt: (v) => num(v) },
  { id: "usd", title: "$/hr", series: [{ key: "usdPerHour", label: "$/hr", colour: "#e0b354" }], fmt: (v) => `$${v.toFixed(v >= 10 ? 1 : 3)}` },
  { id: "errors", title: "error %", series: [{ key: "errorPct", label: "error %", colour: "#f47067" }], fmt: (v) => `${v.toFixed(1)}%` },
  {
    id: "latency",
    title: "latency p50/p95",
    series: [
      { key: "latencyP50Ms", label: "p50", colour: "#8ddb8c" },
      { key: "latencyP95Ms", label: "p95", colour: "#dcbdfb" },
    ],
    fmt: (v) => (v >= 1000 ? `${(v / 1000).toFixed(1)}s` : `${Math.round(v)}ms`),
  },
  { id: "cpu", title: "cpu %", series: [{ key: "cpuPct", label: "cpu %", colour: "#96d0ff" }], fmt: (v) => `${v.toFixed(1)}%` },
  { id: "mem", title: "memory", series: [{ key: "memBytes", label: "memory", colour: "#f69d50" }], fmt: (v) => (v >= 1 << 30 ? `${(v / (1 << 30)).toFixed(1)}G` : `${Math.round(v / (1 << 20))}M`) },
];

/** `peak 1.5k at 14:02 · 60 points`: what the chart shows, in words (also for screen readers and tests). */
export function caption(spec: ChartSpec, s: SeriesResponse): string {
  const parts: string[] = [];
  for (const ser of spec.series) {
    const values = s[ser.key] as (number | null)[];
    let peak = -Infinity;
    let at = 0;
    let n = 0;
    values.forEach((v, i) => {
      if (v === null) return;
      n++;
      if (v > peak) [peak, at] = [v, s.t[i]!];
    });
    const name = spec.series.length > 1 ? `${ser.label} ` : "";
    parts.push(n ? `${name}peak ${spec.fmt(peak)} at ${clock(at * 1000)} · ${n} points` : `${name}no data`);
  }
  return parts.join(" · ");
}

const AXIS = { stroke: "#adbac7", grid: { stroke: "#2d333b", width: 1 }, ticks: { stroke: "#2d333b", width: 1 } };

/** The six charts of one agent, drawn with uPlot (bundled into the page's script: no network). */
export class AgentCharts {
  private plots = new Map<string, { plot: uPlot; caption: HTMLElement }>();

  constructor(private readonly root: HTMLElement) {}

  show(s: SeriesResponse): void {
    const width = Math.max(260, Math.floor((this.root.clientWidth - 24) / 3) - 16);
    if (this.plots.size === 0) this.build(width);
    for (const spec of CHARTS) {
      const p = this.plots.get(spec.id)!;
      if (Math.abs(p.plot.width - width) > 4) p.plot.setSize({ width, height: 150 });
      p.plot.setData([s.t, ...spec.series.map((x) => s[x.key] as (number | null)[])] as uPlot.AlignedData);
      fill(p.caption, caption(spec, s));
      p.caption.parentElement!.dataset.points = String(s.t.length);
    }
  }

  clear(message: string): void {
    for (const p of this.plots.values()) p.plot.destroy();
    this.plots.clear();
    fill(this.root, el("p", { class: "dim" }, message));
  }

  private build(width: number): void {
    this.root.replaceChildren();
    for (const spec of CHARTS) {
      const cap = el("figcaption", { class: "caption" });
      const fig = el("figure", { class: "chart", "data-chart": spec.id }, el("h3", null, spec.title), cap);
      this.root.appendChild(fig);
      const opts: uPlot.Options = {
        width,
        height: 150,
        legend: { show: spec.series.length > 1, live: false },
        cursor: { drag: { x: false, y: false } },
        scales: { x: { time: true } },
        axes: [{ ...AXIS }, { ...AXIS, size: 70, values: (_u, ticks) => ticks.map((v) => (v === null ? "" : spec.fmt(v))) }],
        series: [{}, ...spec.series.map((x) => ({ label: x.label, stroke: x.colour, width: 1.5, points: { show: (_u: uPlot, _s: number, i0: number, i1: number) => i1 - i0 <= 120, size: 4 }, fill: spec.series.length === 1 ? x.colour + "22" : undefined, spanGaps: false, value: (_u: uPlot, v: number | null) => (v === null ? "-" : spec.fmt(v)) }))],
      };
      const plot = new uPlot(opts, [[], ...spec.series.map(() => [])] as uPlot.AlignedData, fig);
      fig.appendChild(cap); // below the plot
      this.plots.set(spec.id, { plot, caption: cap });
    }
  }
}
