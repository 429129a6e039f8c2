/**
 * Preemption on the lease path (issue #8): a 10,000-GPU fleet full of two-GPU spot leases, then
 * on-demand requests that must preempt. Measured in-process through LeaseService.create() — the
 * path a customer's request takes after HTTP — with a normal (non-preempting) placement on the
 * same loaded state as the baseline in the same run. The figure before this change:
 * 8.2–15.9 s for one 8-GPU request and 18.8–38.1 s for a 64-GPU same-fabric one.
 *
 *   npm run bench -- preemption [--spot N] [--requests N] [--store pglite|postgres]
 */
import { randomBytes } from 'node:crypto';
import { cpus } from 'node:os';
import { ControlPlane } from '../src/app/control-plane.js';
import type { FleetSpec } from '../src/fleet/index.js';
import type { Principal } from '../src/tenancy/index.js';

function arg(args: string[], name: string, dflt: string): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1]! : dflt;
}

/** 10,000 H100s: 2 sites × 1 hall × 5 fabrics × 125 HGX nodes × 8 GPUs (the lease bench's fleet). */
function fleet(): FleetSpec {
  return {
    sites: ['bench-a', 'bench-b'].map((id, i) => ({
      id, region: `region-${i}`, powerCapMw: 20, pue: 1.2,
      halls: [{ id: `${id}-h1`, powerCapMw: 20, fabrics: Array.from({ length: 5 }, (_, f) => ({ id: `${id}-f${f + 1}`, kind: 'infiniband' as const, nodeGroups: [{ gpuModel: 'H100-SXM' as const, count: 125 }] })) }],
    })),
  };
}

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};

export async function main(args: string[]): Promise<void> {
  const spotN = Number(arg(args, 'spot', '4990'));
  const requests = Number(arg(args, 'requests', '10'));
  const store = arg(args, 'store', 'pglite');
  const pgUrl = process.env['BENCH_DATABASE_URL'] || process.env['TEST_DATABASE_URL'] || 'postgres://postgres@127.0.0.1:5432/test';
  const schema = `bench_${randomBytes(4).toString('hex')}`;
  const cp = await ControlPlane.open(store === 'postgres'
    ? { databaseUrl: pgUrl, pgSchema: schema, initialFleet: fleet(), poolSize: 10 }
    : { initialFleet: fleet() });
  const admin: Principal = { kind: 'admin', keyId: 'bench' };
  const t = await cp.tenants.create(admin, 'bench');
  const tenant: Principal = { kind: 'tenant', tenantId: t.tenant.id, keyId: 'bench' };
  const time = async (fn: () => Promise<unknown>): Promise<number> => {
    const t0 = performance.now();
    await fn();
    return performance.now() - t0;
  };
  // Fill: two-GPU spot leases (the leftover GPUs stay free for the baseline).
  const t0 = performance.now();
  for (let i = 0; i < spotN; i++) await cp.leases.create(tenant, { gpuModel: 'H100-SXM', gpuCount: 2, durationHours: 8, class: 'spot' });
  const fillS = (performance.now() - t0) / 1000;
  const baseline: number[] = [];
  const od8: number[] = [];
  const od64: number[] = [];
  for (let i = 0; i < requests; i++) {
    // Baseline: a normal placement on the same loaded index and store, no preemption: an 8-GPU
    // reserved block after the spot work ends (its release is not timed).
    let block = '';
    baseline.push(await time(async () => {
      block = (await cp.leases.create(tenant, { gpuModel: 'H100-SXM', gpuCount: 8, class: 'reserved', start: new Date(Date.now() + 9 * 3_600_000).toISOString(), durationHours: 1 })).id;
    }));
    await cp.leases.release(tenant, block);
    od8.push(await time(() => cp.leases.create(tenant, { gpuModel: 'H100-SXM', gpuCount: 8, durationHours: 1 })));
    od64.push(await time(() => cp.leases.create(tenant, { gpuModel: 'H100-SXM', gpuCount: 64, durationHours: 1, placement: 'same-fabric' })));
  }
  if (store === 'postgres') await cp.handle.db.execute(`DROP SCHEMA "${schema}" CASCADE`);
  await cp.close();
  const row = (name: string, xs: number[]) => `${name.padEnd(44)} ${pct(xs, 50).toFixed(1).padStart(8)} ${pct(xs, 99).toFixed(1).padStart(8)} ${Math.max(...xs).toFixed(1).padStart(8)}`;
  process.stdout.write(`\npreemption on the lease path, ${store}, 10,000 H100s, ${spotN} two-GPU spot leases, ${requests} requests of each kind\n`);
  process.stdout.write(`machine: ${cpus().length} × ${cpus()[0]?.model ?? '?'}, node ${process.version}, ${new Date().toISOString()}\n`);
  process.stdout.write(`fill: ${spotN} spot leases in ${fillS.toFixed(1)} s (${(spotN / fillS).toFixed(0)}/s)\n\n`);
  process.stdout.write(`${'request (in-process LeaseService.create)'.padEnd(44)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'max ms'.padStart(8)}\n`);
  process.stdout.write(`${row('baseline: 8-GPU block, fits, no preemption', baseline)}\n${row('8-GPU on-demand, preempts spot', od8)}\n${row('64-GPU same-fabric on-demand, preempts spot', od64)}\n`);
  process.stdout.write(`${JSON.stringify({ bench: 'preemption', store, spotN, requests, fillS, baseline, od8, od64 })}\n`);
}
