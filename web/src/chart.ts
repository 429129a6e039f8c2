/** A hand-written SVG grouped bar chart: one group per category, one bar per series. */
import { svg, type Attrs } from './dom.js';
import { count } from './format.js';

export interface Series {
  name: string;
  /** CSS class giving the bars their colour (see styles.css). */
  cls: string;
}

export interface Group {
  label: string;
  /** One value per series, in series order. */
  values: number[];
  /** Extra attributes for the group's `<g>` (e.g. data-site), besides data-group. */
  attrs?: Attrs;
}

const BAR_GAP = 3;
const MIN_GROUP_W = 96;
const MIN_PLOT_W = 480;
const PLOT_H = 180;
const M = { top: 34, right: 12, bottom: 34, left: 56 };
const TICKS = 4;

/** A round tick step (1, 2 or 5 × 10^k) so that TICKS steps cover `max`. */
function tickStep(max: number): number {
  const raw = Math.max(max, 1) / TICKS;
  const p = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw) ?? 10 * p;
}

/** Swatch, gap, text at about 7px a character, spacing. */
const legendItemW = (s: Series): number => 17 + s.name.length * 7 + 20;

export function groupedBarChart(o: { label: string; series: Series[]; groups: Group[] }): SVGSVGElement {
  const step = Math.max(1, tickStep(Math.max(0, ...o.groups.flatMap((g) => g.values))));
  const top = step * TICKS;
  const n = Math.max(1, o.groups.length);
  const legendW = o.series.reduce((a, s) => a + legendItemW(s), 0);
  const groupW = Math.max(MIN_GROUP_W, Math.max(MIN_PLOT_W, legendW) / n);
  const barW = Math.min(36, (groupW * 0.6) / o.series.length);
  const width = M.left + n * groupW + M.right;
  const height = M.top + PLOT_H + M.bottom;
  const y = (v: number): number => M.top + PLOT_H - (v / top) * PLOT_H;

  const chart = svg('svg', {
    class: 'chart', viewBox: `0 0 ${width} ${height}`, width, height, role: 'img', 'aria-label': o.label,
  }, svg('title', {}, o.label));

  for (let i = 0; i <= TICKS; i++) {
    const v = i * step;
    chart.append(
      svg('line', { class: 'grid', x1: M.left, x2: width - M.right, y1: y(v), y2: y(v) }),
      svg('text', { class: 'tick', x: M.left - 6, y: y(v) + 4, 'text-anchor': 'end' }, count(v)),
    );
  }

  o.groups.forEach((g, gi) => {
    const x0 = M.left + gi * groupW + (groupW - o.series.length * (barW + BAR_GAP) + BAR_GAP) / 2;
    const group = svg('g', { ...g.attrs, class: 'group', 'data-group': g.label });
    o.series.forEach((s, si) => {
      const v = g.values[si] ?? 0;
      group.append(svg('rect', {
        class: `bar ${s.cls}`, x: x0 + si * (barW + BAR_GAP), y: y(v), width: barW, height: Math.max(0, y(0) - y(v)),
        'data-series': s.name, 'data-value': v,
      }, svg('title', {}, `${g.label} · ${s.name}: ${count(v)}`)));
    });
    group.append(svg('text', { class: 'label', x: M.left + gi * groupW + groupW / 2, y: height - M.bottom + 18, 'text-anchor': 'middle' }, g.label));
    chart.append(group);
  });

  chart.append(svg('line', { class: 'axis', x1: M.left, x2: width - M.right, y1: y(0), y2: y(0) }));

  let lx = M.left;
  for (const s of o.series) {
    chart.append(
      svg('rect', { class: `swatch ${s.cls}`, x: lx, y: 10, width: 12, height: 12 }),
      svg('text', { class: 'legend', x: lx + 17, y: 20 }, s.name),
    );
    lx += legendItemW(s);
  }
  return chart;
}
