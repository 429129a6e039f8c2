/**
 * A PostgreSQL text[] literal (`{"a",NULL,"b"}`), so both drivers (PGlite, node-postgres) pass
 * arrays the same way: as one text parameter cast with `::text[]`.
 */
export function pgTextArray(values: readonly (string | null)[]): string {
  return `{${values.map((v) => (v === null ? 'NULL' : `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`)).join(',')}}`;
}
