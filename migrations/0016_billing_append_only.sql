-- Hand-written (issue 18, findings 5 and 7).
-- Usage is deduplicated per tenant: the key is (tenant_id, source, id). Two tenants' gateways may
-- use the same CloudEvents source and id; each tenant's event counts for that tenant. Keys unique
-- under (source, id) stay unique under the wider key, so existing rows need no change.
ALTER TABLE "billing_usage_events" DROP CONSTRAINT "billing_usage_events_source_id_pk";--> statement-breakpoint
ALTER TABLE "billing_usage_events" ADD CONSTRAINT "billing_usage_events_tenant_id_source_id_pk" PRIMARY KEY ("tenant_id", "source", "id");--> statement-breakpoint
-- An invoice's payments and credit notes are read (and summed by the triggers below) by invoice.
CREATE INDEX "billing_payments_invoice_idx" ON "billing_payments" USING btree ("invoice_id");--> statement-breakpoint
CREATE INDEX "billing_credit_notes_invoice_idx" ON "billing_credit_notes" USING btree ("invoice_id");--> statement-breakpoint
-- Append-only money. SQLSTATE NC102: a row of an append-only table changed or removed; NC103: a
-- rule of a final invoice (or of what it took, paid or credited) broken. Every message names the
-- table and the rule. A refusal with the rule as TG_ARGV[0] and the SQLSTATE as TG_ARGV[1].
CREATE OR REPLACE FUNCTION billing_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% %', TG_TABLE_NAME, TG_ARGV[0] USING ERRCODE = TG_ARGV[1];
END $$;--> statement-breakpoint
-- Payments and credit notes are never changed or removed: a correction is a new credit note.
CREATE TRIGGER billing_payments_append_only BEFORE UPDATE OR DELETE ON billing_payments FOR EACH ROW
  EXECUTE FUNCTION billing_refuse('is append-only: a payment is never changed or removed (a correction is a credit note)', 'NC102');--> statement-breakpoint
CREATE TRIGGER billing_payments_no_truncate BEFORE TRUNCATE ON billing_payments FOR EACH STATEMENT
  EXECUTE FUNCTION billing_refuse('is append-only: a payment is never changed or removed (a correction is a credit note)', 'NC102');--> statement-breakpoint
CREATE TRIGGER billing_credit_notes_append_only BEFORE UPDATE OR DELETE ON billing_credit_notes FOR EACH ROW
  EXECUTE FUNCTION billing_refuse('is append-only: a credit note is never changed or removed (issue another credit note)', 'NC102');--> statement-breakpoint
CREATE TRIGGER billing_credit_notes_no_truncate BEFORE TRUNCATE ON billing_credit_notes FOR EACH STATEMENT
  EXECUTE FUNCTION billing_refuse('is append-only: a credit note is never changed or removed (issue another credit note)', 'NC102');--> statement-breakpoint
CREATE TRIGGER billing_usage_events_no_truncate BEFORE TRUNCATE ON billing_usage_events FOR EACH STATEMENT
  EXECUTE FUNCTION billing_refuse('cannot be truncated: usage taken by a final invoice is kept (open usage may be deleted row by row)', 'NC103');--> statement-breakpoint
CREATE TRIGGER billing_invoices_no_truncate BEFORE TRUNCATE ON billing_invoices FOR EACH STATEMENT
  EXECUTE FUNCTION billing_refuse('cannot be truncated: final invoices are kept (void one through the service)', 'NC103');--> statement-breakpoint
-- A payment is recorded against a final invoice, a credit note against a final or paid one
-- (the statuses allowed are the trigger's arguments), for the invoice's own tenant.
CREATE OR REPLACE FUNCTION billing_settlement_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE st text; te text;
BEGIN
  SELECT status, tenant_id INTO st, te FROM billing_invoices WHERE id = NEW.invoice_id;
  IF st IS NULL OR NOT (st = ANY (TG_ARGV)) THEN
    RAISE EXCEPTION '%: row % is against invoice %, which is %: allowed only against % invoices', TG_TABLE_NAME, NEW.id, NEW.invoice_id, coalesce(st, 'missing'), array_to_string(TG_ARGV, ' or ') USING ERRCODE = 'NC103';
  END IF;
  IF NEW.tenant_id <> te THEN
    RAISE EXCEPTION '%: row % names tenant % but invoice % is tenant %''s', TG_TABLE_NAME, NEW.id, NEW.tenant_id, NEW.invoice_id, te USING ERRCODE = 'NC103';
  END IF;
  RETURN NEW;
END $$;--> statement-breakpoint
CREATE TRIGGER billing_payments_guard BEFORE INSERT ON billing_payments FOR EACH ROW EXECUTE FUNCTION billing_settlement_guard('final');--> statement-breakpoint
CREATE TRIGGER billing_credit_notes_guard BEFORE INSERT ON billing_credit_notes FOR EACH ROW EXECUTE FUNCTION billing_settlement_guard('final', 'paid');--> statement-breakpoint
-- Checked at commit (the service inserts the payment, posts its entry, then moves paid_micros, in
-- one transaction): the invoice's paid_micros equals the sum of its payments, and the payment has
-- its journal entry (kind 'payment', ref = the payment's id).
CREATE OR REPLACE FUNCTION billing_payment_posted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE p numeric; s numeric;
BEGIN
  SELECT paid_micros INTO p FROM billing_invoices WHERE id = NEW.invoice_id;
  SELECT coalesce(sum(amount_micros), 0) INTO s FROM billing_payments WHERE invoice_id = NEW.invoice_id;
  IF p IS DISTINCT FROM s THEN
    RAISE EXCEPTION 'billing_payments: invoice %''s paid_micros is % but its payments sum to %: a payment moves paid_micros in its own transaction', NEW.invoice_id, p, s USING ERRCODE = 'NC103';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM billing_journal_entries WHERE kind = 'payment' AND ref = NEW.id) THEN
    RAISE EXCEPTION 'billing_payments: payment % has no journal entry (kind payment, ref %): a payment is posted in its own transaction', NEW.id, NEW.id USING ERRCODE = 'NC103';
  END IF;
  RETURN NULL;
END $$;--> statement-breakpoint
CREATE CONSTRAINT TRIGGER billing_payments_posted AFTER INSERT ON billing_payments DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION billing_payment_posted();--> statement-breakpoint
CREATE OR REPLACE FUNCTION billing_credit_note_posted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM billing_journal_entries WHERE kind = 'credit_note' AND ref = NEW.id) THEN
    RAISE EXCEPTION 'billing_credit_notes: credit note % has no journal entry (kind credit_note, ref %): a credit note is posted in its own transaction', NEW.id, NEW.id USING ERRCODE = 'NC103';
  END IF;
  RETURN NULL;
END $$;--> statement-breakpoint
CREATE CONSTRAINT TRIGGER billing_credit_notes_posted AFTER INSERT ON billing_credit_notes DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION billing_credit_note_posted();--> statement-breakpoint
-- Usage taken by an invoice that is not a draft (final, paid, void; or internal time posted to the
-- journal, whose invoice_id names no invoice) never changes or goes away: otherwise detached rows
-- are billed again as late usage, or a final invoice's lines no longer match its usage. Open usage
-- (invoice_id NULL) is free, and the WHEN clause keeps this off the hot path of attaching it.
CREATE OR REPLACE FUNCTION billing_usage_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE st text;
BEGIN
  SELECT status INTO st FROM billing_invoices WHERE id = OLD.invoice_id;
  IF st IS DISTINCT FROM 'draft' THEN
    RAISE EXCEPTION 'billing_usage_events: event %/% was taken by invoice %, which is %: billed usage never changes (issue a credit note; late usage goes to the next invoice)',
      OLD.source, OLD.id, OLD.invoice_id, coalesce(st, 'not an invoice (internal time, posted)') USING ERRCODE = 'NC103';
  END IF;
  IF TG_OP = 'DELETE' THEN
    RETURN OLD;
  END IF;
  RETURN NEW;
END $$;--> statement-breakpoint
CREATE TRIGGER billing_usage_events_billed BEFORE UPDATE OR DELETE ON billing_usage_events FOR EACH ROW WHEN (OLD.invoice_id IS NOT NULL) EXECUTE FUNCTION billing_usage_guard();--> statement-breakpoint
-- Invoices (replaces 0014's guard; same trigger). Status: draft → final → paid | void, nothing
-- else. A draft is free but never becomes paid or void directly. A final invoice's identity
-- (tenant, kind, period, currency, number, total, dates, contract) never changes; paid_micros only
-- grows and always equals the sum of the invoice's payments; it becomes paid only when
-- paid_micros + its credit notes = total_micros (the service's rule: a payment of exactly what is
-- due), void only with nothing paid or credited; closed_at is set with paid or void. A paid or
-- void invoice never changes. Only a draft is deleted.
CREATE OR REPLACE FUNCTION billing_invoice_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE paid numeric; credited numeric;
BEGIN
  IF TG_OP = 'DELETE' THEN
    IF OLD.status <> 'draft' THEN
      RAISE EXCEPTION 'billing_invoices: invoice % is %: only a draft can be deleted', OLD.id, OLD.status USING ERRCODE = 'NC103';
    END IF;
    RETURN OLD;
  END IF;
  IF OLD.status IN ('paid', 'void') THEN
    RAISE EXCEPTION 'billing_invoices: invoice % is %: it cannot change (issue a credit note)', OLD.id, OLD.status USING ERRCODE = 'NC103';
  END IF;
  IF OLD.status = 'draft' THEN
    IF NEW.status NOT IN ('draft', 'final') THEN
      RAISE EXCEPTION 'billing_invoices: invoice % is a draft: it can only become final (a draft is never % directly)', OLD.id, NEW.status USING ERRCODE = 'NC103';
    END IF;
  ELSE
    IF NEW.id <> OLD.id OR NEW.tenant_id <> OLD.tenant_id OR NEW.kind <> OLD.kind OR NEW.period <> OLD.period OR NEW.currency <> OLD.currency
       OR NEW.number IS DISTINCT FROM OLD.number OR NEW.total_micros <> OLD.total_micros OR NEW.created_at <> OLD.created_at
       OR NEW.finalized_at IS DISTINCT FROM OLD.finalized_at OR NEW.contract_id IS DISTINCT FROM OLD.contract_id
       OR NEW.status NOT IN ('final', 'paid', 'void') OR NEW.paid_micros < OLD.paid_micros THEN
      RAISE EXCEPTION 'billing_invoices: invoice % is final: only its status (to paid or void) and its amount paid (growing) may change (issue a credit note)', OLD.id USING ERRCODE = 'NC103';
    END IF;
    IF NEW.status = 'final' AND NEW.closed_at IS DISTINCT FROM OLD.closed_at THEN
      RAISE EXCEPTION 'billing_invoices: invoice % is final: closed_at is set only when it becomes paid or void', OLD.id USING ERRCODE = 'NC103';
    END IF;
  END IF;
  IF NEW.paid_micros <> OLD.paid_micros THEN
    SELECT coalesce(sum(amount_micros), 0) INTO paid FROM billing_payments WHERE invoice_id = NEW.id;
    IF NEW.paid_micros <> paid THEN
      RAISE EXCEPTION 'billing_invoices: invoice %''s paid_micros would be % but its payments sum to %: paid_micros moves only with a payment', NEW.id, NEW.paid_micros, paid USING ERRCODE = 'NC103';
    END IF;
  END IF;
  IF OLD.status = 'final' AND NEW.status IN ('paid', 'void') THEN
    SELECT coalesce(sum(amount_micros), 0) INTO credited FROM billing_credit_notes WHERE invoice_id = NEW.id;
    IF NEW.status = 'paid' AND NEW.paid_micros + credited <> NEW.total_micros THEN
      RAISE EXCEPTION 'billing_invoices: invoice % becomes paid only when paid_micros (%) plus its credit notes (%) equal total_micros (%)', NEW.id, NEW.paid_micros, credited, NEW.total_micros USING ERRCODE = 'NC103';
    END IF;
    IF NEW.status = 'void' AND (NEW.paid_micros <> 0 OR credited <> 0) THEN
      RAISE EXCEPTION 'billing_invoices: invoice % can become void only with nothing paid or credited (paid %, credited %): issue a credit note', NEW.id, NEW.paid_micros, credited USING ERRCODE = 'NC103';
    END IF;
  END IF;
  RETURN NEW;
END $$;
