-- Tenant names become unique regardless of case. A database that already holds names differing
-- only in case keeps the oldest as it is and renames the others "<name> (<id>)", so the index can
-- be built and every tenant stays reachable by id.
UPDATE "tenants" AS t SET "name" = t."name" || ' (' || t."id" || ')'
WHERE EXISTS (
  SELECT 1 FROM "tenants" AS o
  WHERE lower(o."name") = lower(t."name") AND (o."created_at", o."id") < (t."created_at", t."id")
);--> statement-breakpoint
CREATE UNIQUE INDEX "tenants_name_lower_unique" ON "tenants" USING btree (lower("name"));
