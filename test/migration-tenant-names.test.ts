/**
 * Migration 0015 (tenant names unique regardless of case) on a database that already holds names
 * differing only in case: the shipped SQL runs as it is, keeps the oldest name, renames the others
 * "<name> (<id>)" and then builds the index, which refuses a new case-twin.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { describe, expect, it } from 'vitest';
import { MIGRATIONS_DIR } from '../src/store/db.js';

describe('migration 0015: tenant names unique regardless of case', () => {
  it('renames the younger of names that differ only in case, keeps the rest, and then refuses a case-twin', async () => {
    const db = new PGlite();
    await db.exec(`CREATE TABLE "tenants" ("id" text PRIMARY KEY, "name" text NOT NULL UNIQUE, "created_at" timestamptz NOT NULL)`);
    await db.exec(`INSERT INTO "tenants" VALUES
      ('ten_2', 'acme', '2026-01-02T00:00:00Z'), ('ten_1', 'Acme', '2026-01-01T00:00:00Z'),
      ('ten_3', 'ACME', '2026-01-02T00:00:00Z'), ('ten_4', 'globex', '2026-01-01T00:00:00Z')`);
    const sql = readFileSync(join(MIGRATIONS_DIR, '0015_tenant_name_ci.sql'), 'utf8');
    for (const stmt of sql.split('--> statement-breakpoint')) await db.exec(stmt);
    const rows = (await db.query<{ id: string; name: string }>(`SELECT id, name FROM tenants ORDER BY id`)).rows;
    expect(rows).toEqual([
      { id: 'ten_1', name: 'Acme' },
      { id: 'ten_2', name: 'acme (ten_2)' },
      { id: 'ten_3', name: 'ACME (ten_3)' },
      { id: 'ten_4', name: 'globex' },
    ]);
    await expect(db.exec(`INSERT INTO tenants VALUES ('ten_5', 'GLOBEX', now())`)).rejects.toThrow(/tenants_name_lower_unique/);
    await db.close();
  });
});
