/**
 * The inflation comparison for people: a text table (unallocated GPUs and fragmentation at chosen
 * arrival loads, each policy against best fit), an SVG of allocation rate against arrival load
 * that stands alone (paste it anywhere), and an HTML page holding both.
 */
import { pointAt, type Comparison } from './inflation.js';
import { SHARE_POLICY_DESCRIPTIONS } from './share-cluster.js';

/** The load the goal is read at: arrived GPU demand = GPU capacity (see docs/decisions.md, "Placement quality"). */
export const SATURATION_LOAD = 1.0;
/** Loads the table shows. */
export const TABLE_LOADS = [0.9, 1.0, 1.1, 1.3] as const;

const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;
const signed = (x: number): string => `${x > 0 ? '+' : ''}${(x * 100).toFixed(0)}%`;

/** Unallocated GPUs of `policy` relative to best fit's at a load (−0.3 = 30% fewer); null without a best-fit run. */
export function versusBestFit(c: Comparison, policy: string, load = SATURATION_LOAD): number | null {
  const bf = c.policies.find((p) => p.policy === 'bestfit');
  const me = c.policies.find((p) => p.policy === policy);
  if (!bf || !me) return null;
  const b = pointAt(bf.mean, load).unallocatedGpus;
  return b === 0 ? 0 : pointAt(me.mean, load).unallocatedGpus / b - 1;
}

export function formatComparison(c: Comparison, title = ''): string {
  const loads = TABLE_LOADS.filter((l) => l <= c.maxLoad + 1e-9);
  // The saturation point, or the highest load run when the run stops short of it.
  const sat = Math.min(SATURATION_LOAD, c.maxLoad);
  const satLabel = `@${(sat * 100).toFixed(0)}%`;
  const head = ['policy', ...loads.map((l) => `unalloc @${(l * 100).toFixed(0)}%`), `alloc ${satLabel}`, `frag (paper) ${satLabel}`, `frag (partly-used nodes) ${satLabel}`, `vs best fit ${satLabel}`, 'time'];
  const rows = c.policies.map((p) => {
    const at = pointAt(p.mean, sat);
    const vs = versusBestFit(c, p.policy, sat);
    return [
      p.policy,
      ...loads.map((l) => pointAt(p.mean, l).unallocatedGpus.toFixed(1)),
      pct(at.allocationRate), pct(at.fragmentation), pct(at.partialNodeShare),
      vs === null || p.policy === 'bestfit' ? '—' : signed(vs), `${(p.wallMs / 1000).toFixed(2)} s`,
    ];
  });
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]): string => r.map((x, i) => (i === 0 ? x.padEnd(w[i]!) : x.padStart(w[i]!))).join('  ');
  return [
    ...(title ? [title] : []),
    `cluster ${c.nodes.toLocaleString('en-US')} nodes, ${c.capacityGpus.toLocaleString('en-US')} GPUs; ${c.tasks.toLocaleString('en-US')} trace tasks drawn at random (seeds ${c.seeds.join(', ')}; means over seeds)`,
    'unallocated GPUs = capacity − GPUs allocated, at arrival load = GPUs asked for ÷ capacity (Weng et al., ATC\'23 §6.1); no departures, no queue, no preemption',
    line(head),
    ...rows.map(line),
    'frag (paper) = expected share of free GPU capacity the task population cannot use; frag (partly-used nodes) = share of free GPU capacity on nodes partly in use',
  ].join('\n');
}

const COLORS: Record<string, string> = { bestfit: '#6b7280', packing: '#ea580c', fgd: '#2563eb', neocloud: '#16a34a' };

/** Allocation rate (y, % of GPUs) against arrival load (x, % of capacity): a standalone SVG document. */
export function comparisonSvg(c: Comparison, title = 'GPU allocation rate vs arrival load'): string {
  const W = 800;
  const H = 420;
  const L = 60;
  const R = 195;
  const T = 40;
  const B = 50;
  const xMax = c.maxLoad;
  const x = (load: number): number => L + (load / xMax) * (W - L - R);
  const y = (rate: number): number => H - B - rate * (H - T - B);
  const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const parts: string[] = [];
  parts.push(`<rect width="${W}" height="${H}" fill="#fff"/>`);
  parts.push(`<text x="${W / 2}" y="22" text-anchor="middle" font-size="15">${esc(title)}</text>`);
  for (let v = 0; v <= 1.0001; v += 0.2) {
    parts.push(`<line x1="${L}" x2="${W - R}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#e5e7eb"/>`);
    parts.push(`<text x="${L - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${(v * 100).toFixed(0)}%</text>`);
  }
  for (let l = 0; l <= xMax + 1e-9; l += 0.1) {
    parts.push(`<line x1="${x(l).toFixed(1)}" x2="${x(l).toFixed(1)}" y1="${H - B}" y2="${H - B + 4}" stroke="#9ca3af"/>`);
    parts.push(`<text x="${x(l).toFixed(1)}" y="${H - B + 18}" text-anchor="middle">${(l * 100).toFixed(0)}</text>`);
  }
  // The ideal: allocation = min(load, 100%).
  parts.push(`<path d="M${x(0)},${y(0)} L${x(1)},${y(1)} L${x(xMax)},${y(1)}" fill="none" stroke="#d1d5db" stroke-dasharray="4 4"/>`);
  parts.push(`<line x1="${L}" x2="${W - R}" y1="${H - B}" y2="${H - B}" stroke="#374151"/><line x1="${L}" x2="${L}" y1="${T}" y2="${H - B}" stroke="#374151"/>`);
  parts.push(`<text x="${(L + W - R) / 2}" y="${H - 10}" text-anchor="middle">arrived workload (% of cluster GPU capacity)</text>`);
  parts.push(`<text transform="translate(16 ${(T + H - B) / 2}) rotate(-90)" text-anchor="middle">GPUs allocated</text>`);
  c.policies.forEach((p, i) => {
    const color = COLORS[p.policy] ?? '#000';
    const d = p.mean.map((q, k) => `${k ? 'L' : 'M'}${x(q.load).toFixed(1)},${y(q.allocationRate).toFixed(1)}`).join(' ');
    // Dashes tell apart curves that overlap (FGD and neocloud often do).
    const dash = i % 2 === 1 ? ' stroke-dasharray="7 4"' : '';
    parts.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="2"${dash}/>`);
    const ly = T + 20 + i * 36;
    const sat = pointAt(p.mean, Math.min(SATURATION_LOAD, c.maxLoad));
    parts.push(`<line x1="${W - R + 12}" x2="${W - R + 32}" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="3"${dash}/>`);
    parts.push(`<text x="${W - R + 38}" y="${ly + 4}">${esc(p.policy)}</text>`);
    parts.push(`<text x="${W - R + 38}" y="${ly + 18}" fill="#4b5563">${sat.unallocatedGpus.toFixed(0)} GPUs free at ${(sat.load * 100).toFixed(0)}%</text>`);
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="system-ui, sans-serif" font-size="12" role="img" aria-label="${esc(title)}">\n${parts.join('\n')}\n</svg>\n`;
}

/** A self-contained HTML page: the table, the allocation chart, and what each policy does. */
export function comparisonHtml(c: Comparison, title: string): string {
  const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const policies = c.policies.map((p) => `<li><b>${esc(p.policy)}</b>: ${esc(SHARE_POLICY_DESCRIPTIONS[p.policy])}</li>`).join('');
  return `<!doctype html><html><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>body{font:14px system-ui,sans-serif;margin:2rem;color:#222}pre{background:#f6f6f6;padding:1rem;overflow:auto}</style></head><body>
<h1>${esc(title)}</h1><pre>${esc(formatComparison(c))}</pre>
${comparisonSvg(c, title)}
<ul>${policies}</ul>
</body></html>`;
}
