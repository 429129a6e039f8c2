/** Per-request helpers shared by the route modules: the caller, and idempotent mutations. */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ControlPlane } from '../app/control-plane.js';
import { DomainError } from '../shared/errors.js';
import { canonicalJson, sha256 } from '../shared/ids.js';
import { PG_UNIQUE_VIOLATION, pgErrorCode } from '../store/index.js';
import { principalId, type IdempotencyContext, type Principal } from '../tenancy/index.js';
import type { AgentIdentity } from '../telemetry/index.js';

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
    /** The node agent that called (routes with `config: { agent: true }`). */
    agent?: AgentIdentity;
  }
}

export function agentOf(req: FastifyRequest): AgentIdentity {
  if (!req.agent) throw new DomainError('unauthorized', 'Authorization: an agent credential is required');
  return req.agent;
}

export function principalOf(req: FastifyRequest): Principal {
  if (!req.principal) throw new DomainError('unauthorized', 'Authorization: a bearer API key is required');
  return req.principal;
}

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

/**
 * The Idempotency-Key check alone, for mutating POSTs that are idempotent by their own nature and
 * store no response (an agent's heartbeat: its sequence number; an enrolment: its one-time token).
 */
export function requireIdempotencyKey(req: FastifyRequest): void {
  const key = req.headers['idempotency-key'];
  if (typeof key !== 'string' || key.length === 0) {
    throw new DomainError('idempotency_key_required', 'Idempotency-Key: this request changes state and needs an Idempotency-Key header (e.g. a UUID)', { field: 'Idempotency-Key' });
  }
  if (!IDEMPOTENCY_KEY.test(key)) throw new DomainError('validation', 'Idempotency-Key: 1 to 255 visible ASCII characters', { field: 'Idempotency-Key' });
}

/**
 * Runs a mutating POST at most once per (caller, Idempotency-Key). The service stores the
 * response in the same transaction as its effects; a retry gets that response back with
 * `Idempotent-Replayed: true`. The same key with a different request is a 422.
 * Failed requests are not stored: they changed nothing, so a retry simply runs again.
 */
export class Idempotency {
  private readonly inFlight = new Map<string, Promise<unknown>>();

  constructor(private readonly cp: ControlPlane) {}

  /**
   * `optimistic`: skip the look-up before executing (one round trip less on the hot path); a
   * retry is then caught when its write hits the stored key, or when it fails for a reason
   * (say, capacity now gone) that the first attempt did not meet — either way the stored
   * response is replayed.
   * `bodyFingerprint`: how the body enters the request hash (default: canonical JSON, sorted
   * keys). Large bodies (a usage batch of 10,000 events) use JSON.stringify: the same bytes
   * retried hash alike, at a fifth of the cost.
   */
  async run(
    req: FastifyRequest, reply: FastifyReply,
    exec: (idem: IdempotencyContext) => Promise<{ status: number; body: unknown }>,
    opts: { optimistic?: boolean; bodyFingerprint?: (body: unknown) => string } = {},
  ): Promise<FastifyReply> {
    const key = req.headers['idempotency-key'];
    if (typeof key !== 'string' || key.length === 0) {
      throw new DomainError('idempotency_key_required', 'Idempotency-Key: this request changes state and needs an Idempotency-Key header (e.g. a UUID)', { field: 'Idempotency-Key' });
    }
    if (!IDEMPOTENCY_KEY.test(key)) {
      throw new DomainError('validation', 'Idempotency-Key: 1 to 255 visible ASCII characters', { field: 'Idempotency-Key' });
    }
    const principal = principalId(principalOf(req));
    const requestHash = sha256(`${req.method} ${req.routeOptions.url ?? req.url} ${canonicalJson(req.params)} ${(opts.bodyFingerprint ?? canonicalJson)(req.body ?? null)}`);
    const slot = `${principal}\u0000${key}`;

    // Same key already running in this process: wait for it, then answer from the record.
    const running = this.inFlight.get(slot);
    if (running) await running.catch(() => undefined);

    // Note: replay() answers a boolean, never the reply: a FastifyReply is thenable, and awaiting it
    // yields undefined once sent (which made a replayed request run again, or log its own success
    // as an error).
    if (!opts.optimistic && (await this.replay(principal, key, requestHash, reply))) return reply;

    const p = exec({ principal, key, requestHash });
    this.inFlight.set(slot, p);
    try {
      const { status, body } = await p;
      return reply.code(status).send(body);
    } catch (err) {
      // A stored response wins over this attempt's failure: the same key committed first (here
      // or in another process, and our write rolled back), or an optimistic retry failed where
      // the original had succeeded.
      if ((opts.optimistic || pgErrorCode(err) === PG_UNIQUE_VIOLATION) && (await this.replay(principal, key, requestHash, reply))) return reply;
      throw err;
    } finally {
      if (this.inFlight.get(slot) === p) this.inFlight.delete(slot);
    }
  }

  /** Sends the stored response for (principal, key), if there is one; says whether it did. */
  private async replay(principal: string, key: string, requestHash: string, reply: FastifyReply): Promise<boolean> {
    const rec = await this.cp.idempotency.get(principal, key);
    if (!rec) return false;
    if (rec.requestHash !== requestHash) {
      throw new DomainError('idempotency_mismatch', 'Idempotency-Key: this key was already used for a different request', { field: 'Idempotency-Key' });
    }
    reply.code(rec.statusCode).header('idempotent-replayed', 'true').send(rec.body);
    return true;
  }
}
