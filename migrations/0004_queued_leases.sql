ALTER TABLE "leases" ADD COLUMN "queued_until" timestamp with time zone;--> statement-breakpoint
CREATE INDEX "leases_queued_idx" ON "leases" USING btree ("created_at") WHERE queued_until IS NOT NULL;