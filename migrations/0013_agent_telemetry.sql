CREATE TABLE "discovered_gpus" (
	"node_id" text NOT NULL,
	"idx" integer NOT NULL,
	"uuid" text NOT NULL,
	"serial" text,
	"pci_bus_id" text,
	"discovered_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "discovered_gpus_node_id_idx_pk" PRIMARY KEY("node_id","idx")
);
--> statement-breakpoint
CREATE TABLE "fleet_spec_states" (
	"node_id" text PRIMARY KEY NOT NULL,
	"state" text NOT NULL
);
--> statement-breakpoint
CREATE TABLE "node_conditions" (
	"node_id" text PRIMARY KEY NOT NULL,
	"admin" text,
	"health_reason" text,
	"health_since" timestamp with time zone,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "agent_tokens" (
	"id" text PRIMARY KEY NOT NULL,
	"node_id" text NOT NULL,
	"token_hash" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	"used_at" timestamp with time zone,
	CONSTRAINT "agent_tokens_token_hash_unique" UNIQUE("token_hash")
);
--> statement-breakpoint
CREATE TABLE "agents" (
	"id" text PRIMARY KEY NOT NULL,
	"node_id" text NOT NULL,
	"credential_hash" text NOT NULL,
	"nats_key" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"revoked_at" timestamp with time zone,
	CONSTRAINT "agents_credential_hash_unique" UNIQUE("credential_hash")
);
--> statement-breakpoint
CREATE TABLE "power_history" (
	"scope" text NOT NULL,
	"scope_id" text NOT NULL,
	"minute" timestamp with time zone NOT NULL,
	"mean_w" bigint NOT NULL,
	"peak_w" bigint NOT NULL,
	"samples" integer NOT NULL,
	CONSTRAINT "power_history_scope_scope_id_minute_pk" PRIMARY KEY("scope","scope_id","minute")
);
--> statement-breakpoint
CREATE INDEX "agents_node_idx" ON "agents" USING btree ("node_id");