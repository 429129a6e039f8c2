/** Benchmarks on PostgreSQL run in a schema of their own; this drops it afterwards (on its own connection: the control plane is closed by then). */
import pg from 'pg';

export async function dropBenchSchema(url: string, schema: string): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await c.end();
  }
}
