-- Issue 18 (outside test): an invoice's addressee, seller and payment terms are frozen when it is
-- finalised (a later change of the tenant's billing profile rewrote issued invoices and their due
-- dates). Set once, in the statement that makes the invoice final; never changed after.
ALTER TABLE "billing_invoices" ADD COLUMN "bill_to" jsonb;--> statement-breakpoint
CREATE OR REPLACE FUNCTION billing_invoice_bill_to_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.bill_to IS NOT NULL AND NEW.bill_to IS DISTINCT FROM OLD.bill_to THEN
    RAISE EXCEPTION 'billing_invoices: the addressee and terms of invoice % are frozen since it was issued', OLD.id USING ERRCODE = 'NC103';
  END IF;
  RETURN NEW;
END $$;--> statement-breakpoint
CREATE TRIGGER billing_invoices_bill_to_frozen BEFORE UPDATE OF bill_to ON billing_invoices FOR EACH ROW EXECUTE FUNCTION billing_invoice_bill_to_frozen();
