/**
 * Charts, drawn by Apache ECharts (SVG renderer) loaded on first use as its own chunk, so sign-in
 * and the lease pages do not download it. Charts are drawn at the container's real width (no
 * scaling of a fixed drawing), so text stays at its set size on a phone; they redraw when the
 * container resizes. Each chart's container carries its data as attributes (data-chart,
 * data-categories, data-series) for tests and for anyone reading the DOM, and an aria-label
 * stating what it shows.
 */
import { h } from './dom.js';

export interface BarSeries { name: string; values: number[]; color: string }

/** Chart text size in CSS px: never scaled down (defect: 2.6 px text on phones). */
export const CHART_FONT_PX = 12;

type ECharts = typeof import('./echarts-chunk.js');
let lib: Promise<ECharts> | null = null;
const load = (): Promise<ECharts> => (lib ??= import('./echarts-chunk.js'));

/** Draws `option` into `el` once it is in the page, and keeps it sized to `el`. */
function mount(el: HTMLElement, option: Record<string, unknown>): void {
  void load().then(({ echarts }) => {
    const draw = (): void => {
      if (!el.isConnected) return;
      const chart = echarts.getInstanceByDom(el) ?? echarts.init(el, undefined, { renderer: 'svg' });
      chart.setOption(option, true);
      const ro = new ResizeObserver(() => chart.resize());
      ro.observe(el);
      el.dataset['drawn'] = 'true';
    };
    // The view inserts the element after building it: wait a frame for it to be in the page.
    if (el.isConnected) draw(); else requestAnimationFrame(draw);
  });
}

const textStyle = { fontSize: CHART_FONT_PX, fontFamily: 'system-ui, sans-serif', color: '#3e4c59' };

/** Grouped bars: one group per category, one bar per series. Horizontal when there are many categories. */
export function barChart(o: { label: string; key: string; categories: string[]; series: BarSeries[]; height?: number }): HTMLElement {
  const many = o.categories.length > 6;
  const height = o.height ?? (many ? Math.max(220, 40 + o.categories.length * 26 * Math.max(1, o.series.length / 2)) : 260);
  const el = h('div', {
    class: 'echart', role: 'img', 'aria-label': o.label, 'data-chart': o.key,
    'data-categories': JSON.stringify(o.categories),
    'data-series': JSON.stringify(Object.fromEntries(o.series.map((s) => [s.name, s.values]))),
  });
  el.style.height = `${height}px`;
  const catAxis = { type: 'category', data: o.categories, axisLabel: { ...textStyle, hideOverlap: true }, inverse: many };
  const valAxis = { type: 'value', axisLabel: textStyle, splitLine: { lineStyle: { color: '#e4e7eb' } } };
  mount(el, {
    animation: false,
    textStyle,
    aria: { enabled: true, label: { description: o.label } },
    legend: { top: 0, left: 0, textStyle, itemWidth: 12, itemHeight: 12 },
    tooltip: { trigger: 'axis', axisPointer: { type: 'shadow' }, textStyle },
    grid: { top: 32, left: 8, right: 16, bottom: 8, containLabel: true },
    xAxis: many ? valAxis : catAxis,
    yAxis: many ? catAxis : valAxis,
    series: o.series.map((s) => ({ type: 'bar', name: s.name, data: s.values, itemStyle: { color: s.color }, barMaxWidth: 36 })),
  });
  return el;
}

/**
 * A heatmap: rows × columns of shares in [0, 1] (e.g. utilization of each fabric domain per hall);
 * null cells are empty. Colours from light (idle) to dark (full).
 */
export function heatmap(o: { label: string; key: string; rows: string[]; cols: string[]; cells: (number | null)[][]; valueName: string }): HTMLElement {
  const el = h('div', {
    class: 'echart', role: 'img', 'aria-label': o.label, 'data-chart': o.key,
    'data-rows': JSON.stringify(o.rows), 'data-cols': JSON.stringify(o.cols), 'data-cells': JSON.stringify(o.cells),
  });
  el.style.height = `${Math.max(160, 70 + o.rows.length * 34)}px`;
  const data: [number, number, number][] = [];
  o.cells.forEach((row, r) => row.forEach((v, c) => { if (v !== null) data.push([c, r, Math.round(v * 1000) / 10]); }));
  mount(el, {
    animation: false,
    textStyle,
    aria: { enabled: true, label: { description: o.label } },
    tooltip: { textStyle, formatter: (p: { value: [number, number, number] }) => `${o.rows[p.value[1]]} · ${o.cols[p.value[0]]}: ${p.value[2]}% ${o.valueName}` },
    grid: { top: 8, left: 8, right: 8, bottom: 44, containLabel: true },
    xAxis: { type: 'category', data: o.cols, axisLabel: { ...textStyle, hideOverlap: true }, splitArea: { show: true } },
    yAxis: { type: 'category', data: o.rows, axisLabel: textStyle, splitArea: { show: true }, inverse: true },
    visualMap: { min: 0, max: 100, calculable: false, orient: 'horizontal', left: 'center', bottom: 0, itemHeight: 120, textStyle, text: ['100%', '0%'], inRange: { color: ['#e0f2fe', '#2563a8', '#7c2d12'] } },
    series: [{ type: 'heatmap', name: o.valueName, data, label: { show: o.cols.length <= 8, ...textStyle, formatter: (p: { value: [number, number, number] }) => `${p.value[2]}%` } }],
  });
  return el;
}

/**
 * A line over time: one line per series against UTC minutes (ISO strings, shown as HH:MM). For
 * measured power: the values are watts and are drawn in kW.
 */
export function lineChart(o: { label: string; key: string; times: string[]; series: BarSeries[]; unit: string; height?: number }): HTMLElement {
  const el = h('div', {
    class: 'echart', role: 'img', 'aria-label': o.label, 'data-chart': o.key,
    'data-categories': JSON.stringify(o.times),
    'data-series': JSON.stringify(Object.fromEntries(o.series.map((s) => [s.name, s.values]))),
  });
  el.style.height = `${o.height ?? 220}px`;
  mount(el, {
    animation: false,
    textStyle,
    aria: { enabled: true, label: { description: o.label } },
    legend: { top: 0, left: 0, textStyle, itemWidth: 12, itemHeight: 12 },
    tooltip: { trigger: 'axis', textStyle },
    grid: { top: 32, left: 8, right: 16, bottom: 8, containLabel: true },
    xAxis: { type: 'category', data: o.times.map((t) => t.slice(11, 16)), axisLabel: { ...textStyle, hideOverlap: true }, boundaryGap: false },
    yAxis: { type: 'value', axisLabel: { ...textStyle, formatter: `{value} ${o.unit}` }, splitLine: { lineStyle: { color: '#e4e7eb' } } },
    series: o.series.map((s) => ({ type: 'line', name: s.name, data: s.values, itemStyle: { color: s.color }, lineStyle: { color: s.color }, showSymbol: o.times.length <= 2 })),
  });
  return el;
}
