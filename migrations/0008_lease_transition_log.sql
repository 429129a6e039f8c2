ALTER TABLE "leases" ADD COLUMN "start_logged" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "leases" ADD COLUMN "end_logged" boolean DEFAULT false NOT NULL;--> statement-breakpoint
CREATE INDEX "leases_start_unlogged_idx" ON "leases" USING btree ("start_at") WHERE NOT start_logged;--> statement-breakpoint
CREATE INDEX "leases_end_unlogged_idx" ON "leases" USING btree ("end_at") WHERE NOT end_logged;--> statement-breakpoint
-- Leases written before the event log: what already happened is not re-announced.
UPDATE "leases" SET "start_logged" = true WHERE "start_at" <= now() OR "released_at" IS NOT NULL OR "failed_at" IS NOT NULL;--> statement-breakpoint
UPDATE "leases" SET "end_logged" = true WHERE "released_at" IS NOT NULL OR "failed_at" IS NOT NULL OR "end_at" <= now() OR "preempted_at" <= now() OR "queued_until" <= now();
