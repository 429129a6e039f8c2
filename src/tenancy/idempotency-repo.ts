/**
 * Stored responses of mutating requests, per principal and Idempotency-Key: a retry replays the
 * stored answer. A writer may embed the insert in its own statement (`idempotencyInsert`), so the
 * change and its stored response commit together.
 */
import { and, eq, lt, sql, type SQL } from 'drizzle-orm';
import { iso, type Db } from '../store/index.js';
import * as t from './tenancy-schema.js';

export interface IdempotencyRecord {
  requestHash: string;
  statusCode: number;
  body: unknown;
}

export interface IdempotentWrite {
  principal: string;
  key: string;
  requestHash: string;
  statusCode: number;
  body: unknown;
  nowMs: number;
}

/** The INSERT of a stored response, for a writer's own statement (e.g. the last part of a CTE chain). */
export function idempotencyInsert(w: IdempotentWrite): SQL {
  return sql`INSERT INTO idempotency_keys (principal, key, request_hash, status_code, body, created_at)
    VALUES (${w.principal}, ${w.key}, ${w.requestHash}, ${w.statusCode}, ${JSON.stringify(w.body)}::jsonb, ${iso(w.nowMs)}::timestamptz)`;
}

export class IdempotencyRepo {
  constructor(readonly db: Db) {}

  async get(principal: string, key: string): Promise<IdempotencyRecord | undefined> {
    const [r] = await this.db
      .select()
      .from(t.idempotencyKeys)
      .where(and(eq(t.idempotencyKeys.principal, principal), eq(t.idempotencyKeys.key, key)));
    return r ? { requestHash: r.requestHash, statusCode: r.statusCode, body: r.body } : undefined;
  }

  async save(principal: string, key: string, rec: IdempotencyRecord, nowMs: number): Promise<void> {
    await this.db.insert(t.idempotencyKeys).values({
      principal, key, requestHash: rec.requestHash, statusCode: rec.statusCode, body: rec.body, createdAt: new Date(nowMs),
    });
  }

  /** Forgets idempotency records older than the retention window. */
  async prune(beforeMs: number): Promise<void> {
    await this.db.delete(t.idempotencyKeys).where(lt(t.idempotencyKeys.createdAt, new Date(beforeMs)));
  }
}
