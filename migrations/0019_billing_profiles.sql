-- A tenant's billing profile (issue 18): who an invoice is addressed to. Optional; owned by
-- billing. Without one, an invoice is addressed to the tenant's name with no address.
CREATE TABLE "billing_profiles" (
	"tenant_id" text PRIMARY KEY NOT NULL,
	"legal_name" text,
	"address_lines" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"city" text,
	"postal_code" text,
	"country" text,
	"tax_id" text,
	"payment_terms_days" integer,
	"updated_at" timestamp with time zone NOT NULL,
	CONSTRAINT "billing_profiles_terms_ck" CHECK ("payment_terms_days" IS NULL OR "payment_terms_days" BETWEEN 0 AND 365),
	CONSTRAINT "billing_profiles_country_ck" CHECK ("country" IS NULL OR "country" ~ '^[A-Z]{2}$')
);--> statement-breakpoint
ALTER TABLE "billing_profiles" ADD CONSTRAINT "billing_profiles_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "tenants"("id") ON DELETE no action ON UPDATE no action;
