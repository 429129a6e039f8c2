CREATE TABLE "nats_relay_cursors" (
	"cell" text NOT NULL,
	"stream" text NOT NULL,
	"last_seq" bigint DEFAULT 0 NOT NULL,
	"owner" text,
	"lease_until" timestamp with time zone,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "nats_relay_cursors_cell_stream_pk" PRIMARY KEY("cell","stream")
);
