/**
 * API fuzzer. Starts the real server (on each store), reads /openapi.json, and for every operation
 * sends a few hundred generated and mutated requests as the operator, as a tenant, with no key and
 * with a garbage key: bodies from the operation's schema and from a model of a valid request, then
 * mutated (wrong types, huge and unicode strings, NUL, lone surrogates, deep nesting, NaN, ±1e308,
 * invalid dates, unknown fields), malformed raw bodies and YAML alias bombs, wrong content types,
 * ids that are valid, foreign or mutated, and paths that are percent-encoded, dotted or too long.
 * The rules every answer must keep are in test/fuzz/oracle.ts; the database must be unchanged by
 * every rejected request (test/fuzz/db-digest.ts).
 *
 * CI runs one fixed seed. To explore more:
 *
 *   FUZZ_SEED=123 FUZZ_RUNS=2000 npx vitest run test/fuzz.test.ts
 *
 * FUZZ_RUNS is random requests per operation (default 200; each operation also gets a fixed set of
 * systematic ones), FUZZ_OPS a substring filter on the operation (`POST /v1/leases`), FUZZ_SLOW_MS
 * the slowest acceptable answer (default 15000), FUZZ_BLOCK_MS the longest a request may keep the
 * server's event loop busy (default 2000), FUZZ_TRACE=1 prints every request. A failure prints one
 * smallest reproduction per distinct defect: method, target, headers, body excerpt, and answer.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCampaign, formatReport } from './fuzz/campaign.js';
import { digester } from './fuzz/db-digest.js';
import { afterSuccess, caseContext, fuzzFleet, seedWorld, type World } from './fuzz/fixture.js';
import { operationsOf, type Operation } from './fuzz/openapi.js';
import { startServer, STORE_KINDS, type TestServer } from './helpers.js';

const SEED = Number(process.env['FUZZ_SEED'] ?? 20261201);
const RUNS = Number(process.env['FUZZ_RUNS'] ?? 200);
const SLOW_MS = Number(process.env['FUZZ_SLOW_MS'] ?? 15_000);
const BLOCK_MS = Number(process.env['FUZZ_BLOCK_MS'] ?? 2_000);
const OPS = process.env['FUZZ_OPS'];

for (const store of STORE_KINDS) {
  describe(`API fuzzer on ${store} (seed ${SEED}, ${RUNS} requests per operation)`, () => {
    let s: TestServer;
    let world: World;
    let ops: Operation[];

    beforeAll(async () => {
      s = await startServer({ store, fleet: fuzzFleet() });
      world = await seedWorld(s);
      const doc = await s.call('GET', '/openapi.json', { key: null });
      ops = operationsOf(doc.body).filter((o) => !OPS || o.key.includes(OPS));
    });
    afterAll(async () => s?.close());

    it('every operation survives hostile input: no 5xx, problem+json 4xx naming the field, no access without a key, no write on a rejection', async () => {
      expect(ops.length).toBeGreaterThan(0);
      // The server prints an unhandled error's cause with NC_DEBUG; it names the defect behind a 500.
      const debug = process.env['NC_DEBUG'];
      process.env['NC_DEBUG'] = '1';
      const consoleError = console.error;
      let lastError: string | undefined;
      // A database error arrives wrapped ("Failed query: …"); its cause names the defect, so it goes first.
      const explain = (x: unknown): string => {
        if (!(x instanceof Error)) return String(x);
        const cause = x.cause instanceof Error ? x.cause : undefined;
        return cause ? `${cause.name}: ${cause.message} — ${x.message}` : `${x.name}: ${x.message}`;
      };
      console.error = (...args: unknown[]) => { lastError = args.map(explain).join(' '); };
      const ctx = caseContext(s, world, ops);
      const digest = await digester(s.cp.handle.db);
      let report;
      try {
        report = await runCampaign({
          port: Number(new URL(s.url).port), ops, ctx, seed: SEED, runsPerOp: RUNS,
          timeoutMs: 60_000, slowMs: SLOW_MS, blockMs: BLOCK_MS, digest,
          afterSuccess: afterSuccess(s, world, ctx),
          takeServerError: () => { const e = lastError; lastError = undefined; return e; },
          trace: process.env['FUZZ_TRACE'] === '1',
        });
      } finally {
        console.error = consoleError;
        if (debug === undefined) delete process.env['NC_DEBUG']; else process.env['NC_DEBUG'] = debug;
      }
      const text = formatReport(report, `${store}, seed ${SEED}`, { operator: ctx.keys.operator, tenant: ctx.keys.tenant, 'first operator': s.adminKey, 'first tenant': world.tenant.key, other: world.other.key });
      console.log(`${text}\n  (${digest.full} full database digests; the rest skipped as no transaction id was taken)`);
      expect(report.groups.map((g) => `[${g.check}] ${g.about}`), text).toEqual([]);
    }, 300_000 + RUNS * 1_000);
  });
}
