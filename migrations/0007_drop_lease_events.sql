-- lease_events becomes part of the event log (cell "default"): history is kept, in time order.
INSERT INTO "event_log_heads" ("cell", "last_seq") VALUES ('default', 0) ON CONFLICT DO NOTHING;--> statement-breakpoint
INSERT INTO "events" ("cell", "seq", "id", "type", "source", "subject", "tenant_id", "time", "data")
SELECT 'default', h.last_seq + row_number() OVER (ORDER BY e."at", e."id"), e."id",
  'dev.neocloud.lease.' || CASE e."type" WHEN 'replaced' THEN 'moved' ELSE e."type" END,
  '/cells/default', e."lease_id", l."tenant_id", e."at", e."detail"
FROM "lease_events" e JOIN "leases" l ON l."id" = e."lease_id", "event_log_heads" h WHERE h."cell" = 'default';--> statement-breakpoint
UPDATE "event_log_heads" SET "last_seq" = (SELECT coalesce(max("seq"), 0) FROM "events" WHERE "cell" = 'default') WHERE "cell" = 'default';--> statement-breakpoint
DROP TABLE "lease_events" CASCADE;
