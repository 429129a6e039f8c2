/**
 * The console's live view (issue 10): every open console polls GET /v1/events?after=<head> every
 * 2 s and signs in with GET /v1/me. What one poll costs on the server when nothing is new, on a
 * log of a few thousand events, for the operator (every event) and a tenant (its own, filtered in
 * SQL), against GET /healthz on the same server in the same run (the HTTP floor). Sequential
 * requests over one keep-alive connection; latencies in hdr-histogram.
 *
 *   npm run bench -- console [--leases N] [--requests N] [--store pglite|postgres]
 */
import { randomBytes } from 'node:crypto';
import { cpus } from 'node:os';
import type { AddressInfo } from 'node:net';
import * as hdr from 'hdr-histogram-js';
import { buildServer } from '../src/api/server.js';
import { ControlPlane } from '../src/app/control-plane.js';
import type { FleetSpec } from '../src/fleet/index.js';
import type { Principal } from '../src/tenancy/index.js';
import { dropBenchSchema } from './pg-schema.js';

function arg(args: string[], name: string, dflt: string): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1]! : dflt;
}

const ADMIN_KEY = `nc_adm_bench-${randomBytes(16).toString('hex')}`;

/** 2,000 H100s in one site. */
const fleet = (): FleetSpec => ({
  sites: [{ id: 'bench-a', region: 'region-a', powerCapMw: 20, pue: 1.2,
    halls: [{ id: 'bench-a-h1', powerCapMw: 20, fabrics: Array.from({ length: 2 }, (_, f) => ({ id: `bench-a-f${f + 1}`, kind: 'infiniband' as const, nodeGroups: [{ gpuModel: 'H100-SXM' as const, count: 125 }] })) }] }],
});

export async function main(args: string[]): Promise<void> {
  const leases = Number(arg(args, 'leases', '1000'));
  const requests = Number(arg(args, 'requests', '2000'));
  const store = arg(args, 'store', 'pglite');
  const pgUrl = process.env['BENCH_DATABASE_URL'] || process.env['TEST_DATABASE_URL'] || 'postgres://postgres@127.0.0.1:5432/test';
  const schema = `bench_${randomBytes(4).toString('hex')}`;
  const cp = await ControlPlane.open(store === 'postgres'
    ? { databaseUrl: pgUrl, pgSchema: schema, initialFleet: fleet(), adminKey: ADMIN_KEY }
    : { initialFleet: fleet(), adminKey: ADMIN_KEY });
  const adminKey = ADMIN_KEY;
  const admin: Principal = { kind: 'admin', keyId: 'bench' };
  // Two tenants: the polling one owns a tenth of the leases, so its filter skips most of the log.
  const mine = await cp.tenants.create(admin, 'bench-mine');
  const other = await cp.tenants.create(admin, 'bench-other');
  for (let i = 0; i < leases; i++) {
    const t = i % 10 === 0 ? mine : other;
    const p: Principal = { kind: 'tenant', tenantId: t.tenant.id, keyId: 'bench' };
    const l = await cp.leases.create(p, { gpuModel: 'H100-SXM', gpuCount: 1, durationHours: 1 });
    await cp.leases.release(p, l.id);
  }
  const head = await cp.eventFeed.head();
  const app = await buildServer(cp);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;

  const run = async (label: string, path: string, key: string | null): Promise<void> => {
    const hist = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
    const headers: Record<string, string> = key ? { authorization: `Bearer ${key}` } : {};
    for (let i = 0; i < 200; i++) await (await fetch(url + path, { headers })).text(); // warm-up
    const t0 = performance.now();
    for (let i = 0; i < requests; i++) {
      const s = performance.now();
      const res = await fetch(url + path, { headers });
      await res.text();
      if (!res.ok) throw new Error(`${label}: HTTP ${res.status}`);
      hist.recordValue(Math.round((performance.now() - s) * 1000));
    }
    const perS = requests / ((performance.now() - t0) / 1000);
    const ms = (q: number): string => (hist.getValueAtPercentile(q) / 1000).toFixed(2);
    console.log(`| ${label} | ${ms(50)} | ${ms(99)} | ${Math.round(perS)} |`);
  };
  console.log(`console live-view bench: ${store}, ${leases} leases (${head} events in the log), ${requests} sequential requests each, ${cpus().length} CPUs, Node ${process.version}`);
  console.log('| request | p50 ms | p99 ms | requests/s (one connection) |\n|---|---:|---:|---:|');
  await run('GET /healthz (floor)', '/healthz', null);
  await run('GET /v1/events?after=head, operator, nothing new', `/v1/events?after=${head}`, adminKey);
  await run('GET /v1/events?after=head, tenant, nothing new', `/v1/events?after=${head}`, mine.apiKey);
  await run('GET /v1/events?after=0&limit=100, tenant (its first page)', '/v1/events?after=0&limit=100', mine.apiKey);
  await run('GET /v1/me, operator', '/v1/me', adminKey);
  await app.close();
  await cp.close();
  if (store === 'postgres') {
    await dropBenchSchema(pgUrl, schema);
  }
}
