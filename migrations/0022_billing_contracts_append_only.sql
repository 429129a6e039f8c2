-- Issue 18 (outside test): a contract version priced invoices that are final; changing or deleting
-- it rewrites the history those invoices were rated from. Contracts change only by a new version
-- (BillingService.amendContract inserts one), so versions are append-only like the journal.
CREATE TRIGGER billing_contracts_append_only BEFORE UPDATE OR DELETE ON billing_contracts FOR EACH ROW EXECUTE FUNCTION billing_append_only();--> statement-breakpoint
CREATE TRIGGER billing_contracts_no_truncate BEFORE TRUNCATE ON billing_contracts FOR EACH STATEMENT EXECUTE FUNCTION billing_append_only();
