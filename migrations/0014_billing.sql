CREATE TABLE "billing_contracts" (
	"id" text NOT NULL,
	"version" integer NOT NULL,
	"tenant_id" text NOT NULL,
	"kind" text NOT NULL,
	"currency" text NOT NULL,
	"start_at" timestamp with time zone NOT NULL,
	"end_at" timestamp with time zone,
	"terms" jsonb NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	CONSTRAINT "billing_contracts_id_version_pk" PRIMARY KEY("id","version")
);
--> statement-breakpoint
CREATE TABLE "billing_credit_notes" (
	"id" text PRIMARY KEY NOT NULL,
	"invoice_id" text NOT NULL,
	"tenant_id" text NOT NULL,
	"amount_micros" bigint NOT NULL,
	"reason" text NOT NULL,
	"created_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "billing_invoice_lines" (
	"invoice_id" text NOT NULL,
	"line_no" integer NOT NULL,
	"kind" text NOT NULL,
	"description" text NOT NULL,
	"contract_id" text,
	"meter" text,
	"model" text,
	"quantity" bigint NOT NULL,
	"unit" text NOT NULL,
	"unit_price_micros" bigint NOT NULL,
	"amount_micros" bigint NOT NULL,
	"account" text NOT NULL,
	"service_start" timestamp with time zone NOT NULL,
	"service_end" timestamp with time zone NOT NULL,
	"lease_ids" jsonb NOT NULL,
	CONSTRAINT "billing_invoice_lines_invoice_id_line_no_pk" PRIMARY KEY("invoice_id","line_no")
);
--> statement-breakpoint
CREATE TABLE "billing_invoices" (
	"id" text PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"kind" text NOT NULL,
	"period" text NOT NULL,
	"currency" text NOT NULL,
	"status" text NOT NULL,
	"number" text,
	"total_micros" bigint NOT NULL,
	"paid_micros" bigint DEFAULT 0 NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"finalized_at" timestamp with time zone,
	"closed_at" timestamp with time zone,
	"contract_id" text
);
--> statement-breakpoint
CREATE TABLE "billing_journal_entries" (
	"id" text PRIMARY KEY NOT NULL,
	"kind" text NOT NULL,
	"ref" text NOT NULL,
	"tenant_id" text,
	"currency" text NOT NULL,
	"effective_at" timestamp with time zone NOT NULL,
	"memo" text NOT NULL,
	"created_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "billing_journal_lines" (
	"entry_id" text NOT NULL,
	"line_no" integer NOT NULL,
	"account" text NOT NULL,
	"amount_micros" bigint NOT NULL,
	"contract_id" text,
	CONSTRAINT "billing_journal_lines_entry_id_line_no_pk" PRIMARY KEY("entry_id","line_no")
);
--> statement-breakpoint
CREATE TABLE "billing_lease_meters" (
	"lease_id" text PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"lease_class" text NOT NULL,
	"gpu_model" text NOT NULL,
	"gpu_count" integer NOT NULL,
	"price_micros" bigint NOT NULL,
	"booked_end" timestamp with time zone NOT NULL,
	"metered_until" timestamp with time zone,
	"stopped_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "billing_log_cursors" (
	"consumer" text NOT NULL,
	"cell" text NOT NULL,
	"last_seq" bigint DEFAULT 0 NOT NULL,
	CONSTRAINT "billing_log_cursors_consumer_cell_pk" PRIMARY KEY("consumer","cell")
);
--> statement-breakpoint
CREATE TABLE "billing_payments" (
	"id" text PRIMARY KEY NOT NULL,
	"invoice_id" text NOT NULL,
	"tenant_id" text NOT NULL,
	"amount_micros" bigint NOT NULL,
	"received_at" timestamp with time zone NOT NULL,
	"reference" text
);
--> statement-breakpoint
CREATE TABLE "billing_revenue_schedules" (
	"id" text PRIMARY KEY NOT NULL,
	"invoice_id" text NOT NULL,
	"tenant_id" text NOT NULL,
	"currency" text NOT NULL,
	"contract_id" text,
	"account" text NOT NULL,
	"amount_micros" bigint NOT NULL,
	"recognized_micros" bigint DEFAULT 0 NOT NULL,
	"service_start" timestamp with time zone NOT NULL,
	"service_end" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "billing_usage_events" (
	"source" text NOT NULL,
	"id" text NOT NULL,
	"tenant_id" text NOT NULL,
	"type" text NOT NULL,
	"time" timestamp with time zone NOT NULL,
	"quantity" bigint NOT NULL,
	"model" text,
	"lease_id" text,
	"lease_class" text,
	"price_micros" bigint,
	"received_at" timestamp with time zone NOT NULL,
	"invoice_id" text,
	CONSTRAINT "billing_usage_events_source_id_pk" PRIMARY KEY("source","id")
);
--> statement-breakpoint
ALTER TABLE "billing_contracts" ADD CONSTRAINT "billing_contracts_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "tenants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "billing_credit_notes" ADD CONSTRAINT "billing_credit_notes_invoice_id_billing_invoices_id_fk" FOREIGN KEY ("invoice_id") REFERENCES "billing_invoices"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "billing_invoice_lines" ADD CONSTRAINT "billing_invoice_lines_invoice_id_billing_invoices_id_fk" FOREIGN KEY ("invoice_id") REFERENCES "billing_invoices"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "billing_invoices" ADD CONSTRAINT "billing_invoices_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "tenants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "billing_journal_lines" ADD CONSTRAINT "billing_journal_lines_entry_id_billing_journal_entries_id_fk" FOREIGN KEY ("entry_id") REFERENCES "billing_journal_entries"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "billing_payments" ADD CONSTRAINT "billing_payments_invoice_id_billing_invoices_id_fk" FOREIGN KEY ("invoice_id") REFERENCES "billing_invoices"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "billing_contracts_tenant_idx" ON "billing_contracts" USING btree ("tenant_id");--> statement-breakpoint
CREATE INDEX "billing_invoices_tenant_idx" ON "billing_invoices" USING btree ("tenant_id","period");--> statement-breakpoint
CREATE UNIQUE INDEX "billing_invoices_monthly_uq" ON "billing_invoices" USING btree ("tenant_id","period","currency") WHERE kind = 'monthly';--> statement-breakpoint
CREATE UNIQUE INDEX "billing_journal_kind_ref_uq" ON "billing_journal_entries" USING btree ("kind","ref");--> statement-breakpoint
CREATE INDEX "billing_journal_effective_idx" ON "billing_journal_entries" USING btree ("effective_at");--> statement-breakpoint
CREATE INDEX "billing_journal_lines_account_idx" ON "billing_journal_lines" USING btree ("account");--> statement-breakpoint
CREATE INDEX "billing_lease_meters_running_idx" ON "billing_lease_meters" USING btree ("metered_until") WHERE stopped_at IS NULL AND metered_until IS NOT NULL;--> statement-breakpoint
CREATE INDEX "billing_revenue_schedules_open_idx" ON "billing_revenue_schedules" USING btree ("service_start") WHERE recognized_micros <> amount_micros;--> statement-breakpoint
CREATE INDEX "billing_usage_open_idx" ON "billing_usage_events" USING btree ("tenant_id","time") WHERE invoice_id IS NULL;--> statement-breakpoint
CREATE INDEX "billing_usage_invoice_idx" ON "billing_usage_events" USING btree ("invoice_id") WHERE invoice_id IS NOT NULL;--> statement-breakpoint
-- Hand-written (issue 11): what the books must guarantee even if the code were wrong.
-- Invoice numbers (gaps are possible on rollback; numbers never repeat).
CREATE SEQUENCE IF NOT EXISTS billing_invoice_number_seq;--> statement-breakpoint
-- Usage keys compare bytewise: the deduplication index is the hot path of ingestion, and ids are
-- opaque (no locale order is wanted). The columns are retyped while the table is empty.
ALTER TABLE "billing_usage_events" ALTER COLUMN "source" TYPE text COLLATE "C", ALTER COLUMN "id" TYPE text COLLATE "C", ALTER COLUMN "tenant_id" TYPE text COLLATE "C";--> statement-breakpoint
ALTER TABLE "billing_contracts" ADD CONSTRAINT "billing_contracts_kind_ck" CHECK (kind IN ('reserved', 'on-demand', 'spot', 'commitment', 'credits', 'tokens'));--> statement-breakpoint
ALTER TABLE "billing_contracts" ADD CONSTRAINT "billing_contracts_currency_ck" CHECK (currency IN ('USD', 'JPY'));--> statement-breakpoint
ALTER TABLE "billing_usage_events" ADD CONSTRAINT "billing_usage_quantity_ck" CHECK (quantity >= 0);--> statement-breakpoint
ALTER TABLE "billing_invoices" ADD CONSTRAINT "billing_invoices_status_ck" CHECK (status IN ('draft', 'final', 'paid', 'void'));--> statement-breakpoint
ALTER TABLE "billing_invoices" ADD CONSTRAINT "billing_invoices_kind_ck" CHECK (kind IN ('monthly', 'prepayment', 'credits'));--> statement-breakpoint
ALTER TABLE "billing_invoices" ADD CONSTRAINT "billing_invoices_paid_ck" CHECK (paid_micros >= 0 AND (status = 'draft' OR number IS NOT NULL));--> statement-breakpoint
ALTER TABLE "billing_payments" ADD CONSTRAINT "billing_payments_amount_ck" CHECK (amount_micros > 0);--> statement-breakpoint
ALTER TABLE "billing_credit_notes" ADD CONSTRAINT "billing_credit_notes_amount_ck" CHECK (amount_micros > 0);--> statement-breakpoint
-- Every journal entry balances: its lines sum to zero, checked at commit (SQLSTATE NC101).
CREATE OR REPLACE FUNCTION billing_journal_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE s numeric; n int;
BEGIN
  SELECT coalesce(sum(amount_micros), 0), count(*) INTO s, n FROM billing_journal_lines WHERE entry_id = NEW.entry_id;
  IF s <> 0 THEN
    RAISE EXCEPTION 'journal entry % does not balance: its lines sum to %', NEW.entry_id, s USING ERRCODE = 'NC101';
  END IF;
  RETURN NULL;
END $$;--> statement-breakpoint
CREATE CONSTRAINT TRIGGER billing_journal_lines_balanced AFTER INSERT ON billing_journal_lines DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION billing_journal_balanced();--> statement-breakpoint
CREATE OR REPLACE FUNCTION billing_journal_has_lines() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF (SELECT count(*) FROM billing_journal_lines WHERE entry_id = NEW.id) < 2 THEN
    RAISE EXCEPTION 'journal entry % has fewer than two lines', NEW.id USING ERRCODE = 'NC101';
  END IF;
  RETURN NULL;
END $$;--> statement-breakpoint
CREATE CONSTRAINT TRIGGER billing_journal_entries_lines AFTER INSERT ON billing_journal_entries DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION billing_journal_has_lines();--> statement-breakpoint
-- The journal is append-only (SQLSTATE NC102): corrections are new entries.
CREATE OR REPLACE FUNCTION billing_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% is append-only: post a correcting entry instead', TG_TABLE_NAME USING ERRCODE = 'NC102';
END $$;--> statement-breakpoint
CREATE TRIGGER billing_journal_entries_append_only BEFORE UPDATE OR DELETE ON billing_journal_entries FOR EACH ROW EXECUTE FUNCTION billing_append_only();--> statement-breakpoint
CREATE TRIGGER billing_journal_lines_append_only BEFORE UPDATE OR DELETE ON billing_journal_lines FOR EACH ROW EXECUTE FUNCTION billing_append_only();--> statement-breakpoint
CREATE TRIGGER billing_journal_entries_no_truncate BEFORE TRUNCATE ON billing_journal_entries FOR EACH STATEMENT EXECUTE FUNCTION billing_append_only();--> statement-breakpoint
CREATE TRIGGER billing_journal_lines_no_truncate BEFORE TRUNCATE ON billing_journal_lines FOR EACH STATEMENT EXECUTE FUNCTION billing_append_only();--> statement-breakpoint
-- A final invoice is immutable (SQLSTATE NC103): only final → paid | void, and the amount paid
-- growing while final, may change; nothing of a paid or void invoice may. Drafts are free.
CREATE OR REPLACE FUNCTION billing_invoice_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    IF OLD.status <> 'draft' THEN
      RAISE EXCEPTION 'invoice % is %: it cannot be deleted', OLD.id, OLD.status USING ERRCODE = 'NC103';
    END IF;
    RETURN OLD;
  END IF;
  IF OLD.status = 'draft' THEN
    RETURN NEW;
  END IF;
  IF NEW.id <> OLD.id OR NEW.tenant_id <> OLD.tenant_id OR NEW.kind <> OLD.kind OR NEW.period <> OLD.period OR NEW.currency <> OLD.currency
     OR NEW.number IS DISTINCT FROM OLD.number OR NEW.total_micros <> OLD.total_micros OR NEW.created_at <> OLD.created_at
     OR NEW.finalized_at IS DISTINCT FROM OLD.finalized_at OR NEW.contract_id IS DISTINCT FROM OLD.contract_id
     OR OLD.status IN ('paid', 'void')
     OR NOT (NEW.status = 'final' OR NEW.status IN ('paid', 'void'))
     OR NEW.paid_micros < OLD.paid_micros THEN
    RAISE EXCEPTION 'invoice % is %: it cannot change (issue a credit note)', OLD.id, OLD.status USING ERRCODE = 'NC103';
  END IF;
  RETURN NEW;
END $$;--> statement-breakpoint
CREATE TRIGGER billing_invoices_immutable BEFORE UPDATE OR DELETE ON billing_invoices FOR EACH ROW EXECUTE FUNCTION billing_invoice_guard();--> statement-breakpoint
CREATE OR REPLACE FUNCTION billing_invoice_lines_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE st text;
BEGIN
  IF TG_OP <> 'INSERT' THEN
    SELECT status INTO st FROM billing_invoices WHERE id = OLD.invoice_id;
    IF st IS DISTINCT FROM 'draft' THEN
      RAISE EXCEPTION 'invoice % is %: its lines cannot change', OLD.invoice_id, st USING ERRCODE = 'NC103';
    END IF;
  END IF;
  IF TG_OP <> 'DELETE' THEN
    SELECT status INTO st FROM billing_invoices WHERE id = NEW.invoice_id;
    IF st IS DISTINCT FROM 'draft' THEN
      RAISE EXCEPTION 'invoice % is %: its lines cannot change', NEW.invoice_id, st USING ERRCODE = 'NC103';
    END IF;
    RETURN NEW;
  END IF;
  RETURN OLD;
END $$;--> statement-breakpoint
CREATE TRIGGER billing_invoice_lines_immutable BEFORE INSERT OR UPDATE OR DELETE ON billing_invoice_lines FOR EACH ROW EXECUTE FUNCTION billing_invoice_lines_guard();--> statement-breakpoint
CREATE TRIGGER billing_invoice_lines_no_truncate BEFORE TRUNCATE ON billing_invoice_lines FOR EACH STATEMENT EXECUTE FUNCTION billing_append_only();
