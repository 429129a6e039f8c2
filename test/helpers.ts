/**
 * Test harness: a real control plane on a real port. Storage is PGlite in memory, or PostgreSQL
 * in a schema of its own when `TEST_DATABASE_URL` is set and the caller asks for it.
 */
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { ControlPlane, type ControlPlaneOptions } from '../src/app/control-plane.js';
import { buildServer } from '../src/api/server.js';
import type { FleetSpec } from '../src/fleet/index.js';
import { ManualClock } from '../src/shared/clock.js';
import { IN_CI } from './ci.js';

export const TEST_DATABASE_URL = process.env['TEST_DATABASE_URL'] || undefined;
/** In CI (test/ci.ts) storage tests must run on PostgreSQL too: a missing one fails the run. */
if (IN_CI && !TEST_DATABASE_URL) {
  throw new Error('CI: TEST_DATABASE_URL is not set; storage tests must run on PostgreSQL in CI (.ci/run starts it and sets the variable)');
}
export const T0 = Date.parse('2026-12-01T00:00:00.000Z');
export const ADMIN_KEY = 'nc_adm_test-admin-key-0123456789abcdefghijklmnopqrstuv';

export type StoreKind = 'pglite' | 'postgres';
/** The stores a storage test runs on: PGlite always, PostgreSQL when CI provides it. */
export const STORE_KINDS: StoreKind[] = TEST_DATABASE_URL ? ['pglite', 'postgres'] : ['pglite'];

export async function dropSchema(schema: string): Promise<void> {
  if (!TEST_DATABASE_URL) return;
  const c = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await c.connect();
  try {
    await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await c.end();
  }
}

export interface TestServer {
  cp: ControlPlane;
  url: string;
  clock: ManualClock;
  adminKey: string;
  /** The PostgreSQL schema this server's tables live in (postgres store only). */
  schema: string;
  close(): Promise<void>;
  /** fetch against the server with a bearer key; POSTs get a fresh Idempotency-Key unless given. */
  call(method: string, path: string, opts?: { key?: string | null; body?: unknown; idem?: string | null; headers?: Record<string, string> }): Promise<{ status: number; body: any; headers: Headers }>;
}

export async function startServer(o: { store?: StoreKind; fleet?: FleetSpec | false; clock?: ManualClock; maxConnections?: number } & Partial<ControlPlaneOptions> = {}): Promise<TestServer> {
  const clock = o.clock ?? new ManualClock(T0);
  const schema = `t_${randomBytes(6).toString('hex')}`;
  const usePg = o.store === 'postgres';
  if (usePg && !TEST_DATABASE_URL) throw new Error('postgres store requested without TEST_DATABASE_URL');
  const cp = await ControlPlane.open({
    databaseUrl: usePg ? TEST_DATABASE_URL : undefined,
    pgSchema: usePg ? schema : undefined,
    clock,
    adminKey: ADMIN_KEY,
    initialFleet: o.fleet ?? false,
    telemetry: o.telemetry,
    powerAdmissionMargin: o.powerAdmissionMargin,
    maxKeysPerTenant: o.maxKeysPerTenant,
  });
  const app = await buildServer(cp, { maxConnections: o.maxConnections });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  let idemSeq = 0;
  return {
    cp, url, clock, adminKey: ADMIN_KEY, schema,
    async close() {
      await app.close();
      await cp.close();
      if (usePg) await dropSchema(schema);
    },
    async call(method, path, opts = {}) {
      const headers: Record<string, string> = { ...(opts.headers ?? {}) };
      const key = opts.key === undefined ? ADMIN_KEY : opts.key;
      if (key !== null) headers['authorization'] = `Bearer ${key}`;
      if (method === 'POST' && opts.idem !== null) headers['idempotency-key'] = opts.idem ?? `k-${process.pid}-${Date.now()}-${idemSeq++}`;
      let body: string | undefined;
      if (opts.body !== undefined) {
        headers['content-type'] ??= 'application/json';
        body = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
      }
      const res = await fetch(url + path, { method, headers, body: body ?? null });
      const text = await res.text();
      let parsed: unknown = text;
      try { parsed = text ? JSON.parse(text) : undefined; } catch { /* not JSON */ }
      return { status: res.status, body: parsed, headers: res.headers };
    },
  };
}

/** A small fleet for tests: one site, two halls; H100 HGX nodes and one GB200 NVL72 rack. */
export function smallFleet(over: { h100PerFabric?: number; fabrics?: number; siteCapMw?: number; hallCapMw?: number } = {}): FleetSpec {
  const fabrics = over.fabrics ?? 2;
  return {
    sites: [{
      id: 'site-a', region: 'us-east', powerCapMw: over.siteCapMw ?? 10, pue: 1.25,
      powerSources: [{ id: 'grid-a', kind: 'grid', capacityMw: 10, priceMicrosPerMwh: 60_000_000 }],
      halls: [
        {
          id: 'hall-1', powerCapMw: over.hallCapMw ?? 5,
          fabrics: Array.from({ length: fabrics }, (_, i) => ({
            id: `fab-${i + 1}`, kind: 'infiniband' as const, nodeGroups: [{ gpuModel: 'H100-SXM' as const, count: over.h100PerFabric ?? 4 }],
          })),
        },
        { id: 'hall-2', powerCapMw: 5, fabrics: [{ id: 'fab-nvl', kind: 'infiniband', nodeGroups: [{ gpuModel: 'GB200', count: 1 }] }] },
      ],
    }],
  };
}

/** Creates a tenant through the API and returns its id and key. */
export async function createTenant(s: TestServer, name: string): Promise<{ id: string; key: string }> {
  const r = await s.call('POST', '/v1/tenants', { body: { name } });
  if (r.status !== 201) throw new Error(`tenant create failed: ${r.status} ${JSON.stringify(r.body)}`);
  return { id: r.body.tenant.id, key: r.body.apiKey };
}
