ALTER TABLE "event_log_heads" ADD COLUMN "cap_version" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "event_log_heads" ADD COLUMN "cap_writer" text;--> statement-breakpoint
ALTER TABLE "event_log_heads" ADD COLUMN "cap_run_start" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
-- Raised by a capacity write whose view is stale (docs/decisions.md, "Several control planes"):
-- SQLSTATE NC001 aborts the writer's statement, so nothing of the write is kept.
CREATE OR REPLACE FUNCTION neocloud_capacity_stale(cell text, version bigint) RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'capacity view of cell % is stale (version % written by another control plane)', cell, version USING ERRCODE = 'NC001';
END $$;
