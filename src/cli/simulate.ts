/** `neocloud simulate`: resolve inputs, run the simulator with a progress bar, print the report. */
import { writeFileSync } from 'node:fs';
import { DomainError } from '../shared/errors.js';
import { POLICIES, formatReport, htmlReport, inflateWorkload, resolveFleet, resolveWorkload, simulate } from '../scheduler/index.js';

export async function runSimulateCommand(o: { fleet: string; workload: string; policy: string; mode: string; html?: string; progress: boolean; json: boolean }): Promise<void> {
  const policy = POLICIES[o.policy];
  if (!policy) throw new DomainError('validation', `--policy: one of ${Object.keys(POLICIES).join(', ')}`, { field: 'policy' });
  if (o.mode !== 'replay' && o.mode !== 'fill') throw new DomainError('validation', '--mode: replay or fill', { field: 'mode' });
  const layout = resolveFleet(o.fleet);
  const gpus = layout.nodes.reduce((a, n) => a + n.gpus, 0);
  let jobs = resolveWorkload(o.workload, gpus);
  if (o.mode === 'fill') jobs = inflateWorkload(jobs, gpus);
  const bar = o.progress && process.stderr.isTTY;
  const report = simulate({
    layout, jobs, policy,
    onProgress: bar ? (done, total) => {
      const width = 30;
      const filled = Math.round((done / Math.max(1, total)) * width);
      process.stderr.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} jobs`);
      if (done === total) process.stderr.write('\n');
    } : undefined,
  });
  if (o.html) writeFileSync(o.html, htmlReport(report));
  if (o.json) process.stdout.write(`${JSON.stringify(report)}\n`);
  else process.stdout.write(`${formatReport(report)}${o.mode === 'fill' ? `\nallocation rate  ${(report.allocationRateAtEnd * 100).toFixed(1)}% of GPUs when demand reached the fleet` : ''}${o.html ? `\nhtml report      ${o.html}` : ''}\n`);
}
