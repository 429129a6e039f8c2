CREATE TABLE "gpu_registry" (
	"uuid" text PRIMARY KEY NOT NULL,
	"model" text NOT NULL,
	"first_seen_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
-- Every GPU installed now, and every GPU a lease ever held (its node may have left the fleet since).
INSERT INTO "gpu_registry" ("uuid", "model") SELECT "uuid", "model" FROM "gpus" ON CONFLICT DO NOTHING;--> statement-breakpoint
INSERT INTO "gpu_registry" ("uuid", "model")
  SELECT DISTINCT ON (g."gpu_uuid") g."gpu_uuid", l."gpu_model" FROM "lease_gpus" g JOIN "leases" l ON l."id" = g."lease_id"
  ORDER BY g."gpu_uuid" ON CONFLICT DO NOTHING;--> statement-breakpoint
ALTER TABLE "gpus" ADD CONSTRAINT "gpus_uuid_gpu_registry_uuid_fk" FOREIGN KEY ("uuid") REFERENCES "gpu_registry"("uuid") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "lease_gpus" ADD CONSTRAINT "lease_gpus_gpu_uuid_gpu_registry_uuid_fk" FOREIGN KEY ("gpu_uuid") REFERENCES "gpu_registry"("uuid") ON DELETE no action ON UPDATE no action;