-- One cursor table for every transactional consumer of the event log (src/events/log-consumer.ts).
-- Billing's meter cursor moves here from billing_log_cursors, position and all, so the meter
-- resumes where it stopped (no event metered twice or skipped).
CREATE TABLE "event_log_cursors" (
	"consumer" text NOT NULL,
	"cell" text NOT NULL,
	"last_seq" bigint DEFAULT 0 NOT NULL,
	CONSTRAINT "event_log_cursors_consumer_cell_pk" PRIMARY KEY("consumer","cell")
);
--> statement-breakpoint
INSERT INTO "event_log_cursors" ("consumer", "cell", "last_seq")
SELECT "consumer", "cell", "last_seq" FROM "billing_log_cursors"
ON CONFLICT ("consumer", "cell") DO UPDATE SET "last_seq" = GREATEST("event_log_cursors"."last_seq", excluded."last_seq");
--> statement-breakpoint
DROP TABLE "billing_log_cursors";
--> statement-breakpoint
-- The meter's corrections (GPU time metered past a stop logged later, and downtime) are negative
-- gpu.seconds rows of a lease. Nothing else may be negative: ingested usage has no lease.
ALTER TABLE "billing_usage_events" DROP CONSTRAINT "billing_usage_quantity_ck";
--> statement-breakpoint
ALTER TABLE "billing_usage_events" ADD CONSTRAINT "billing_usage_quantity_ck" CHECK (quantity >= 0 OR (type = 'gpu.seconds' AND lease_id IS NOT NULL));
