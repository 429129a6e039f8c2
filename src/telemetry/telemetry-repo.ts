/** The telemetry domain's queries: tokens, agents, power history. Same code on PGlite and PostgreSQL. */
import { and, eq, gt, isNotNull, isNull, sql } from 'drizzle-orm';
import type { Db } from '../store/index.js';
import * as t from './telemetry-schema.js';

export interface AgentRecord {
  id: string;
  nodeId: string;
  natsKey: string;
  revokedAtMs: number | null;
}

export interface PowerPoint {
  scope: 'site' | 'hall';
  scopeId: string;
  minuteMs: number;
  meanW: number;
  peakW: number;
  samples: number;
}

/** A node whose agent no control plane of the cell has heard from for its missed-heartbeat window. */
export interface OverdueNode {
  nodeId: string;
  agentId: string;
  /** The latest of: last heard (any plane), its agent's enrolment, an operator's recover; ms. */
  heardMs: number;
  intervalMs: number;
}

/** Rows per statement when writing last-seen times (3 parameters a row, well under PostgreSQL's 65,535). */
const LAST_SEEN_CHUNK = 5_000;

export class TelemetryRepo {
  constructor(readonly db: Db) {}

  tx<T>(fn: (r: TelemetryRepo) => Promise<T>): Promise<T> {
    return this.db.transaction((tx) => fn(new TelemetryRepo(tx as unknown as Db)));
  }

  async insertToken(row: { id: string; nodeId: string; tokenHash: string; createdAtMs: number; expiresAtMs: number }): Promise<void> {
    await this.db.insert(t.agentTokens).values({ id: row.id, nodeId: row.nodeId, tokenHash: row.tokenHash, createdAt: new Date(row.createdAtMs), expiresAt: new Date(row.expiresAtMs) });
  }

  /**
   * Marks the token used, if it is for `nodeId`, unused and unexpired: one conditional UPDATE, so two
   * agents racing with the same token cannot both enrol. Returns whether it was taken.
   */
  async takeToken(tokenHash: string, nodeId: string, nowMs: number): Promise<boolean> {
    const r = await this.db.update(t.agentTokens).set({ usedAt: new Date(nowMs) })
      .where(and(eq(t.agentTokens.tokenHash, tokenHash), eq(t.agentTokens.nodeId, nodeId), isNull(t.agentTokens.usedAt), gt(t.agentTokens.expiresAt, new Date(nowMs))))
      .returning({ id: t.agentTokens.id });
    return r.length === 1;
  }

  /** Whether the token is for `nodeId`, unused and unexpired (a read: the enrolment takes it later, in its transaction). */
  async tokenUsable(tokenHash: string, nodeId: string, nowMs: number): Promise<boolean> {
    const r = await this.db.select({ id: t.agentTokens.id }).from(t.agentTokens)
      .where(and(eq(t.agentTokens.tokenHash, tokenHash), eq(t.agentTokens.nodeId, nodeId), isNull(t.agentTokens.usedAt), gt(t.agentTokens.expiresAt, new Date(nowMs))))
      .limit(1);
    return r.length === 1;
  }

  /** Revokes the node's live agents (a new enrolment replaces them); returns their ids. */
  async revokeNodeAgents(nodeId: string, nowMs: number): Promise<string[]> {
    const r = await this.db.update(t.agents).set({ revokedAt: new Date(nowMs) })
      .where(and(eq(t.agents.nodeId, nodeId), isNull(t.agents.revokedAt))).returning({ id: t.agents.id });
    return r.map((x) => x.id);
  }

  async insertAgent(row: { id: string; nodeId: string; credentialHash: string; natsKey: string; createdAtMs: number }): Promise<void> {
    await this.db.insert(t.agents).values({ ...row, createdAt: new Date(row.createdAtMs) });
  }

  /** Many agents at once (benchmarks and bulk imports), in 1,000-row statements. */
  async insertAgents(rows: readonly { id: string; nodeId: string; credentialHash: string; natsKey: string; createdAtMs: number }[]): Promise<void> {
    for (let i = 0; i < rows.length; i += 1_000) {
      await this.db.insert(t.agents).values(rows.slice(i, i + 1_000).map((r) => ({ ...r, createdAt: new Date(r.createdAtMs) })));
    }
  }

  async agentByCredential(credentialHash: string): Promise<AgentRecord | undefined> {
    const [r] = await this.db.select().from(t.agents).where(eq(t.agents.credentialHash, credentialHash));
    return r && { id: r.id, nodeId: r.nodeId, natsKey: r.natsKey, revokedAtMs: r.revokedAt?.getTime() ?? null };
  }

  async agentById(id: string): Promise<AgentRecord | undefined> {
    const [r] = await this.db.select().from(t.agents).where(eq(t.agents.id, id));
    return r && { id: r.id, nodeId: r.nodeId, natsKey: r.natsKey, revokedAtMs: r.revokedAt?.getTime() ?? null };
  }

  /** Agents not revoked (loaded at start: the nodes whose heartbeats are expected). */
  async liveAgents(): Promise<AgentRecord[]> {
    const rows = await this.db.select().from(t.agents).where(isNull(t.agents.revokedAt));
    return rows.map((r) => ({ id: r.id, nodeId: r.nodeId, natsKey: r.natsKey, revokedAtMs: null }));
  }

  /** Returns whether it was live. */
  async revokeAgent(id: string, nowMs: number): Promise<boolean> {
    const r = await this.db.update(t.agents).set({ revokedAt: new Date(nowMs) }).where(and(eq(t.agents.id, id), isNull(t.agents.revokedAt))).returning({ id: t.agents.id });
    return r.length === 1;
  }

  /**
   * Records when nodes were last heard (never moving a time back: two control planes may write the
   * same node in either order). One statement per 5,000 nodes.
   */
  async saveLastSeen(rows: readonly { nodeId: string; lastSeenMs: number; intervalMs: number }[]): Promise<void> {
    const c = t.nodeLastSeen;
    for (let i = 0; i < rows.length; i += LAST_SEEN_CHUNK) {
      await this.db.insert(c).values(rows.slice(i, i + LAST_SEEN_CHUNK).map((r) => ({ nodeId: r.nodeId, lastSeenAt: new Date(r.lastSeenMs), intervalMs: r.intervalMs })))
        .onConflictDoUpdate({
          target: c.nodeId,
          set: { lastSeenAt: sql`GREATEST(${c.lastSeenAt}, excluded.last_seen_at)`, intervalMs: sql`excluded.interval_ms` },
        });
    }
  }

  /**
   * Nodes with a live agent that nothing has been heard from since `beats` of its interval before
   * `nowMs`: last = the latest of its last heartbeat (any control plane), its agent's enrolment and
   * `floorMs` (when the asking leader took over: a new leader counts from then). `defaultIntervalMs`
   * for a node never heard from. One query over the cell's live agents (an index-free scan of a few
   * thousand to ~15,000 rows per cell, every few seconds, by one process: the leader).
   */
  async overdue(nowMs: number, beats: number, defaultIntervalMs: number, floorMs: number): Promise<OverdueNode[]> {
    const a = t.agents;
    const ls = t.nodeLastSeen;
    const heard = sql<Date>`GREATEST(${a.createdAt}, ${ls.lastSeenAt})`;
    const interval = sql<number>`COALESCE(${ls.intervalMs}, ${defaultIntervalMs})`;
    const rows = await this.db.select({ nodeId: a.nodeId, agentId: a.id, heard, interval }).from(a)
      .leftJoin(ls, eq(ls.nodeId, a.nodeId))
      .where(and(isNull(a.revokedAt),
        sql`GREATEST(${heard}, ${new Date(floorMs).toISOString()}::timestamptz) + make_interval(secs => ${beats}::int * ${interval} / 1000.0) < ${new Date(nowMs).toISOString()}::timestamptz`));
    return rows.map((r) => ({ nodeId: r.nodeId, agentId: r.agentId, heardMs: new Date(r.heard).getTime(), intervalMs: Number(r.interval) }));
  }

  /** Agents revoked after `sinceMs` (any control plane), with when; for evicting them from a process's cache. */
  async revokedSince(sinceMs: number): Promise<{ id: string; revokedAtMs: number }[]> {
    const rows = await this.db.select({ id: t.agents.id, revokedAt: t.agents.revokedAt }).from(t.agents)
      .where(and(isNotNull(t.agents.revokedAt), sql`${t.agents.revokedAt} > ${new Date(sinceMs).toISOString()}::timestamptz`));
    return rows.map((r) => ({ id: r.id, revokedAtMs: r.revokedAt!.getTime() }));
  }

  /** Adds one minute's points (a restart that writes the same minute again keeps the first). */
  async savePower(points: readonly PowerPoint[]): Promise<void> {
    if (points.length === 0) return;
    await this.db.insert(t.powerHistory).values(points.map((p) => ({
      scope: p.scope, scopeId: p.scopeId, minute: new Date(p.minuteMs), meanW: Math.round(p.meanW), peakW: Math.round(p.peakW), samples: p.samples,
    }))).onConflictDoNothing();
  }

  async powerHistory(scope: 'site' | 'hall', scopeId: string, sinceMs: number): Promise<PowerPoint[]> {
    const rows = await this.db.select().from(t.powerHistory)
      .where(and(eq(t.powerHistory.scope, scope), eq(t.powerHistory.scopeId, scopeId), sql`${t.powerHistory.minute} >= ${new Date(sinceMs).toISOString()}::timestamptz`))
      .orderBy(t.powerHistory.minute);
    return rows.map((r) => ({ scope, scopeId, minuteMs: r.minute.getTime(), meanW: r.meanW, peakW: r.peakW, samples: r.samples }));
  }
}
