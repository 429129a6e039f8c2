-- A lease's price and total are in the tenant's billing currency when booked (the rate card,
-- src/pricing). Leases booked before this migration were priced from the USD price book.
ALTER TABLE "leases" ADD COLUMN "currency" text DEFAULT 'USD' NOT NULL;
