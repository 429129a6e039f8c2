// drizzle-kit writes "public"."table" in foreign keys; neocloud runs its migrations in whatever
// schema the connection's search_path names (tests isolate themselves per schema), so strip it.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';

const dir = new URL('../migrations/', import.meta.url);
for (const f of readdirSync(dir).filter((n) => n.endsWith('.sql'))) {
  const path = new URL(f, dir);
  const sql = readFileSync(path, 'utf8');
  const out = sql.replace(/"public"\./g, '');
  if (out !== sql) writeFileSync(path, out);
}
