-- A GPU is never in two overlapping leases, whatever the application does: the database refuses
-- any two lease_gpus rows for the same GPU whose windows overlap. btree_gist provides the `=`
-- operator class for text inside a GiST index (PGlite ships it as an extension).
CREATE EXTENSION IF NOT EXISTS btree_gist WITH SCHEMA public;
--> statement-breakpoint
ALTER TABLE "lease_gpus" ADD CONSTRAINT "lease_gpus_no_overlap" EXCLUDE USING gist ("gpu_uuid" WITH =, "during" WITH &&);
