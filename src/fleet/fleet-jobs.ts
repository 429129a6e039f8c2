/**
 * Fleet applies as jobs. Applying a large spec takes seconds (a 200,000-GPU fleet writes
 * ~225,000 rows), so PUT /v1/fleet starts a job, waits a while for it, and answers either the
 * result or the job to poll (`GET /v1/fleet/jobs/{id}`): phase and progress while it runs, the
 * result or the problem when it ends. Applies run one at a time (the lease service's exclusive
 * section). Jobs live in this process's memory for JOB_RETENTION_MS after they end: the apply
 * itself is one database transaction, so a job lost with its process changed nothing and the
 * spec can simply be applied again (applying is idempotent).
 */
import type { Clock } from '../shared/clock.js';
import { DomainError } from '../shared/errors.js';
import { newId } from '../shared/ids.js';
import type { ApplyResult, FleetService } from './fleet-service.js';
import type { FleetSpec } from './fleet-spec.js';

export type FleetJobState = 'running' | 'succeeded' | 'failed';

export interface FleetJobProgress {
  phase: string;
  /** Share of the current phase done, 0..1. */
  progress: number;
}

export interface FleetJobView {
  id: string;
  state: FleetJobState;
  phase: string;
  progress: number;
  startedAt: string;
  finishedAt: string | null;
  result: ApplyResult | null;
  error: Record<string, unknown> | null;
}

interface Job {
  id: string;
  state: FleetJobState;
  progress: FleetJobProgress;
  startedAtMs: number;
  finishedAtMs: number | null;
  result: ApplyResult | null;
  error: unknown;
  done: Promise<void>;
}

const JOB_RETENTION_MS = 3_600_000;
const MAX_JOBS = 100;

export class FleetJobs {
  private readonly jobs = new Map<string, Job>();

  constructor(
    private readonly fleet: FleetService,
    private readonly clock: Clock,
    /** Told about failures that are not domain errors (the problem document points to the log). */
    private readonly onFailure: (err: unknown) => void = () => undefined,
  ) {}

  start(spec: FleetSpec): Job {
    this.prune();
    const job: Job = {
      id: newId('job'), state: 'running', progress: { phase: 'queued', progress: 0 },
      startedAtMs: this.clock.nowMs(), finishedAtMs: null, result: null, error: null, done: Promise.resolve(),
    };
    job.done = this.fleet.apply(spec, (p) => { job.progress = p; }).then(
      (result) => { job.state = 'succeeded'; job.result = result; job.progress = { phase: 'done', progress: 1 }; },
      (err: unknown) => {
        job.state = 'failed';
        job.error = err;
        if (!(err instanceof DomainError)) this.onFailure(err);
      },
    ).finally(() => { job.finishedAtMs = this.clock.nowMs(); });
    this.jobs.set(job.id, job);
    return job;
  }

  /** Waits until the job ends or `timeoutMs` passes (real time: this is I/O, not domain time). */
  async wait(id: string, timeoutMs: number): Promise<Job> {
    const job = this.get(id);
    if (job.state === 'running' && timeoutMs > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([job.done, new Promise<void>((resolve) => { timer = setTimeout(resolve, timeoutMs); })]);
      clearTimeout(timer);
    }
    return job;
  }

  /** The error a failed job ended with (a DomainError maps to its problem document). */
  errorOf(id: string): unknown {
    return this.get(id).error;
  }

  view(id: string): FleetJobView {
    const j = this.get(id);
    const err = j.error;
    return {
      id: j.id, state: j.state, phase: j.progress.phase, progress: j.progress.progress,
      startedAt: new Date(j.startedAtMs).toISOString(),
      finishedAt: j.finishedAtMs === null ? null : new Date(j.finishedAtMs).toISOString(),
      result: j.result,
      error: err === null ? null : err instanceof DomainError ? { code: err.code, detail: err.message, ...err.extensions } : { code: 'internal', detail: 'the apply failed; see the server log' },
    };
  }

  private get(id: string): Job {
    const job = this.jobs.get(id);
    if (!job) throw new DomainError('not_found', `fleet job ${id} not found`);
    return job;
  }

  private prune(): void {
    const now = this.clock.nowMs();
    for (const [id, j] of this.jobs) {
      if (j.finishedAtMs !== null && (now - j.finishedAtMs > JOB_RETENTION_MS || this.jobs.size > MAX_JOBS)) this.jobs.delete(id);
    }
  }
}
