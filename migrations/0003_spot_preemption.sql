ALTER TABLE "leases" ADD COLUMN "preempted_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "leases" ADD COLUMN "preempted_by" text;