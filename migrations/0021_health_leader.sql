-- One leader per cell and role (issue 24): the control plane that holds the row's lease decides
-- for the cell (first role: `health`, the missed-heartbeat verdicts). `epoch` grows by one at every
-- change of owner; a leader's writes check it in their own transaction (fencing), so a leader that
-- lost the lease without knowing it cannot write a verdict (src/store/cell-leader.ts).
CREATE TABLE "cell_leaders" (
	"cell" text NOT NULL,
	"role" text NOT NULL,
	"owner" text,
	"epoch" bigint DEFAULT 0 NOT NULL,
	"lease_until" timestamp with time zone,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "cell_leaders_cell_role_pk" PRIMARY KEY("cell","role")
);
--> statement-breakpoint
-- When each node's agent was last heard by any control plane of the cell (written behind,
-- throttled per node, by whichever plane took the heartbeat; read by the health leader), and the
-- agent's own interval, which the missed-heartbeat rule counts in.
CREATE TABLE "node_last_seen" (
	"node_id" text PRIMARY KEY NOT NULL,
	"last_seen_at" timestamp with time zone NOT NULL,
	"interval_ms" integer NOT NULL
);
