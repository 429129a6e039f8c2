/**
 * Once per test run: build the web console (the browser test loads it) and, when PostgreSQL is
 * configured, install btree_gist in `public` once so parallel test schemas do not race on it.
 * In CI (`CI=true`) PostgreSQL must be configured and reachable: the run fails here otherwise. Locally
 * a missing one is said once, here: storage tests then run on PGlite only.
 */
import { execFileSync } from 'node:child_process';
import pg from 'pg';

export default async function setup(): Promise<void> {
  if (!process.env['NEOCLOUD_SKIP_WEB_BUILD']) execFileSync(process.execPath, ['scripts/build-web.mjs'], { stdio: 'inherit' });
  const url = process.env['TEST_DATABASE_URL'];
  const inCi = /^(true|1)$/i.test(process.env['CI'] ?? '');
  if (!url && inCi) throw new Error('CI: TEST_DATABASE_URL is not set; CI must run the storage tests on PostgreSQL (.ci/run starts it)');
  if (!url) console.warn('PostgreSQL: TEST_DATABASE_URL is not set: storage tests run on PGlite only; their PostgreSQL runs and the multi-plane suites are skipped');
  if (url) {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      await c.query('CREATE EXTENSION IF NOT EXISTS btree_gist WITH SCHEMA public');
    } finally {
      await c.end();
    }
  }
}
