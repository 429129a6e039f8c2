CREATE TABLE "api_keys" (
	"id" text PRIMARY KEY NOT NULL,
	"key_hash" text NOT NULL,
	"role" text NOT NULL,
	"tenant_id" text,
	"created_at" timestamp with time zone NOT NULL,
	"revoked_at" timestamp with time zone,
	CONSTRAINT "api_keys_key_hash_unique" UNIQUE("key_hash")
);
--> statement-breakpoint
CREATE TABLE "fabric_domains" (
	"id" text PRIMARY KEY NOT NULL,
	"hall_id" text NOT NULL,
	"site_id" text NOT NULL,
	"kind" text NOT NULL
);
--> statement-breakpoint
CREATE TABLE "gpus" (
	"uuid" text PRIMARY KEY NOT NULL,
	"node_id" text NOT NULL,
	"idx" integer NOT NULL,
	"model" text NOT NULL
);
--> statement-breakpoint
CREATE TABLE "halls" (
	"id" text PRIMARY KEY NOT NULL,
	"site_id" text NOT NULL,
	"power_cap_w" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "idempotency_keys" (
	"principal" text NOT NULL,
	"key" text NOT NULL,
	"request_hash" text NOT NULL,
	"status_code" integer NOT NULL,
	"body" jsonb NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	CONSTRAINT "idempotency_keys_principal_key_pk" PRIMARY KEY("principal","key")
);
--> statement-breakpoint
CREATE TABLE "lease_gpus" (
	"lease_id" text NOT NULL,
	"gpu_uuid" text NOT NULL,
	"node_id" text NOT NULL,
	"during" "tstzrange" NOT NULL,
	CONSTRAINT "lease_gpus_lease_id_gpu_uuid_pk" PRIMARY KEY("lease_id","gpu_uuid")
);
--> statement-breakpoint
CREATE TABLE "leases" (
	"id" text PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"gpu_model" text NOT NULL,
	"gpu_count" integer NOT NULL,
	"lease_class" text NOT NULL,
	"placement" text NOT NULL,
	"region" text,
	"start_at" timestamp with time zone NOT NULL,
	"end_at" timestamp with time zone NOT NULL,
	"released_at" timestamp with time zone,
	"price_micros_per_gpu_hour" bigint NOT NULL,
	"total_micros" bigint NOT NULL,
	"created_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "nodes" (
	"id" text PRIMARY KEY NOT NULL,
	"site_id" text NOT NULL,
	"hall_id" text NOT NULL,
	"fabric_id" text NOT NULL,
	"nvlink_id" text NOT NULL,
	"gpu_model" text NOT NULL,
	"state" text NOT NULL
);
--> statement-breakpoint
CREATE TABLE "nvlink_domains" (
	"id" text PRIMARY KEY NOT NULL,
	"fabric_id" text NOT NULL,
	"kind" text NOT NULL,
	"gpu_count" integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE "power_sources" (
	"id" text PRIMARY KEY NOT NULL,
	"site_id" text NOT NULL,
	"kind" text NOT NULL,
	"capacity_w" bigint NOT NULL,
	"price_micros_per_mwh" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "prices" (
	"gpu_model" text NOT NULL,
	"lease_class" text NOT NULL,
	"price_micros_per_gpu_hour" bigint NOT NULL,
	CONSTRAINT "prices_gpu_model_lease_class_pk" PRIMARY KEY("gpu_model","lease_class")
);
--> statement-breakpoint
CREATE TABLE "settings" (
	"key" text PRIMARY KEY NOT NULL,
	"value" jsonb NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "sites" (
	"id" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"region" text NOT NULL,
	"power_cap_w" bigint NOT NULL,
	"pue" double precision NOT NULL
);
--> statement-breakpoint
CREATE TABLE "tenants" (
	"id" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	CONSTRAINT "tenants_name_unique" UNIQUE("name")
);
--> statement-breakpoint
ALTER TABLE "api_keys" ADD CONSTRAINT "api_keys_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "tenants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "fabric_domains" ADD CONSTRAINT "fabric_domains_hall_id_halls_id_fk" FOREIGN KEY ("hall_id") REFERENCES "halls"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "fabric_domains" ADD CONSTRAINT "fabric_domains_site_id_sites_id_fk" FOREIGN KEY ("site_id") REFERENCES "sites"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "gpus" ADD CONSTRAINT "gpus_node_id_nodes_id_fk" FOREIGN KEY ("node_id") REFERENCES "nodes"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "halls" ADD CONSTRAINT "halls_site_id_sites_id_fk" FOREIGN KEY ("site_id") REFERENCES "sites"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "lease_gpus" ADD CONSTRAINT "lease_gpus_lease_id_leases_id_fk" FOREIGN KEY ("lease_id") REFERENCES "leases"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "leases" ADD CONSTRAINT "leases_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "tenants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "nodes" ADD CONSTRAINT "nodes_site_id_sites_id_fk" FOREIGN KEY ("site_id") REFERENCES "sites"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "nodes" ADD CONSTRAINT "nodes_hall_id_halls_id_fk" FOREIGN KEY ("hall_id") REFERENCES "halls"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "nodes" ADD CONSTRAINT "nodes_fabric_id_fabric_domains_id_fk" FOREIGN KEY ("fabric_id") REFERENCES "fabric_domains"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "nodes" ADD CONSTRAINT "nodes_nvlink_id_nvlink_domains_id_fk" FOREIGN KEY ("nvlink_id") REFERENCES "nvlink_domains"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "nvlink_domains" ADD CONSTRAINT "nvlink_domains_fabric_id_fabric_domains_id_fk" FOREIGN KEY ("fabric_id") REFERENCES "fabric_domains"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "power_sources" ADD CONSTRAINT "power_sources_site_id_sites_id_fk" FOREIGN KEY ("site_id") REFERENCES "sites"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "gpus_node_idx" ON "gpus" USING btree ("node_id");--> statement-breakpoint
CREATE INDEX "lease_gpus_gpu_idx" ON "lease_gpus" USING btree ("gpu_uuid");--> statement-breakpoint
CREATE INDEX "leases_tenant_idx" ON "leases" USING btree ("tenant_id","created_at");