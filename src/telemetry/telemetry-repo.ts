/** The telemetry domain's queries: tokens, agents, power history. Same code on PGlite and PostgreSQL. */
import { and, eq, gt, isNull, sql } from 'drizzle-orm';
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
