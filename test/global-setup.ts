/**
 * Once per test run: build the web console (the browser test loads it) and, when PostgreSQL is
 * configured, install btree_gist in `public` once so parallel test schemas do not race on it.
 */
import { execFileSync } from 'node:child_process';
import pg from 'pg';

export default async function setup(): Promise<void> {
  if (!process.env['NEOCLOUD_SKIP_WEB_BUILD']) execFileSync(process.execPath, ['scripts/build-web.mjs'], { stdio: 'inherit' });
  const url = process.env['TEST_DATABASE_URL'];
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
