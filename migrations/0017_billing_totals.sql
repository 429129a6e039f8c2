-- Issue 18: running totals of ingested usage, kept by the ingest statement, so that ingestion can
-- refuse what a month's close could not write (a bigint line quantity or invoice total). One row
-- per (tenant, month of the event's time in UTC, type, model ('' for none)), and one per
-- (tenant, month) with type '*' holding the value of all its ingested usage. numeric: a sum that
-- would pass a bigint is computed, compared with the limits (billing-types.ts) and refused.
CREATE TABLE "billing_usage_totals" (
	"tenant_id" text COLLATE "C" NOT NULL,
	"period" text NOT NULL,
	"type" text NOT NULL,
	"model" text NOT NULL,
	"quantity" numeric NOT NULL,
	"value_micros" numeric NOT NULL,
	CONSTRAINT "billing_usage_totals_pk" PRIMARY KEY("tenant_id","period","type","model")
);
--> statement-breakpoint
-- Usage already stored counts towards its month's quantity; its value is not known here (prices
-- live in contract JSON) and starts at 0.
INSERT INTO "billing_usage_totals" ("tenant_id", "period", "type", "model", "quantity", "value_micros")
SELECT tenant_id, to_char(time AT TIME ZONE 'UTC', 'YYYY-MM'), type, coalesce(model, ''), sum(quantity), 0
FROM "billing_usage_events" WHERE type IN ('tokens.input', 'tokens.output', 'storage.gb_hours', 'egress.gb')
GROUP BY 1, 2, 3, 4;
--> statement-breakpoint
-- Raised by the ingest statement when a running total would pass its limit (the limits are the
-- service's, passed in): the whole statement, usage and idempotent response included, rolls back.
-- DETAIL carries the total as JSON (SQLSTATE NC104, after the journal's NC101–NC103).
CREATE OR REPLACE FUNCTION billing_usage_over_limit(total text) RETURNS int LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'usage over the books'' limit' USING ERRCODE = 'NC104', DETAIL = total;
END $$;
