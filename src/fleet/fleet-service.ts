/**
 * Applies declarative fleet specs. Idempotent: the spec is diffed against the stored fleet inside
 * one transaction and only the difference is written; an identical spec writes nothing.
 * Removing (or re-wiring) a node whose GPUs hold a current or future lease is refused.
 */
import type { Clock } from '../shared/clock.js';
import { DomainError } from '../shared/errors.js';
import type { Db } from '../store/index.js';
import { EventLog, type CapacityFence } from '../events/index.js';
import type { FleetRepo } from './fleet-repo.js';
import { diffFleet, planIsEmpty, planSummary, type FleetPlan } from './fleet-diff.js';
import { expandFleetSpec, type FleetSpec } from './fleet-spec.js';
import type { Fleet, FleetNode } from './fleet-types.js';

/** What the fleet needs from leasing, wired by the composition root (keeps fleet free of leasing). */
export interface FleetPorts {
  /** Runs `fn` with capacity decisions paused. */
  exclusive<T>(fn: () => Promise<T>): Promise<T>;
  /** Leases holding any of these GPUs at some instant from now on, read through `db` (the apply's transaction). */
  leasesHolding(db: Db, gpuUuids: string[]): Promise<{ leaseId: string; gpuUuid: string }[]>;
  /** The capacity fence a fleet change's append carries (it bumps the version other control planes check). */
  fence(): CapacityFence;
  /** Called (still exclusive) after a change commits, with the nodes that went down in it. */
  onApplied(fleet: Fleet, nodesDown: string[]): Promise<void>;
}

export interface ApplyResult {
  changed: boolean;
  summary: ReturnType<typeof planSummary>;
  /** Nodes this apply took down (their leases were re-placed or failed). */
  nodesDown?: string[];
}

const WIRING: (keyof FleetNode)[] = ['siteId', 'hallId', 'fabricId', 'nvlinkId', 'gpuModel'];

export class FleetService {
  private fleet: Fleet | undefined;

  /** `cell`: whose event log a fleet change is appended to, and whose capacity it locks. */
  constructor(private readonly store: FleetRepo, private readonly cell: string, private readonly clock: Clock, private readonly ports: FleetPorts) {}

  async load(): Promise<Fleet> {
    this.fleet = await this.store.loadFleet();
    return this.fleet;
  }

  current(): Fleet {
    if (!this.fleet) throw new Error('FleetService.load() first');
    return this.fleet;
  }

  /** Applies `spec`; `progress` hears the phase (expanding, diffing, writing, reindexing) and its share done. */
  async apply(spec: FleetSpec, progress: (p: { phase: string; progress: number }) => void = () => undefined): Promise<ApplyResult> {
    progress({ phase: 'expanding', progress: 0 });
    const desired = expandFleetSpec(spec);
    progress({ phase: 'waiting for leases in flight', progress: 0 });
    return this.ports.exclusive(async () => {
      let nodesDown: string[] = [];
      const result = await this.store.tx(async (s) => {
        // Every control plane's capacity writes wait behind this lock, so no booking commits between
        // the held-GPU check below and this commit; their fenced writes then see the fleet changed.
        const log = new EventLog(s.db, this.cell);
        await log.lockCapacity(s.db);
        progress({ phase: 'diffing', progress: 0 });
        const current = await s.loadFleet();
        const plan = diffFleet(current, desired);
        if (planIsEmpty(plan)) return { changed: false, summary: planSummary(plan) };
        await this.refuseIfHeld(s, current, plan);
        await s.applyFleetPlan(plan, (done) => progress({ phase: 'writing', progress: done }));
        const before = new Map(current.nodes.map((n) => [n.id, n.state]));
        nodesDown = plan.nodes.update.filter((n) => n.state === 'down' && before.get(n.id) !== 'down').map((n) => n.id).sort();
        const summary = planSummary(plan);
        await log.append(s.db, [{ type: 'fleet.applied', subject: 'fleet', tenantId: null, timeMs: this.clock.nowMs(), data: { summary, nodesDown } }], this.ports.fence());
        return { changed: true, summary };
      });
      if (result.changed) {
        progress({ phase: 'reindexing', progress: 0 });
        this.fleet = desired;
        await this.ports.onApplied(desired, nodesDown);
      }
      return nodesDown.length ? { ...result, nodesDown } : result;
    });
  }

  private async refuseIfHeld(s: FleetRepo, current: Fleet, plan: FleetPlan): Promise<void> {
    const curNodes = new Map(current.nodes.map((n) => [n.id, n]));
    const touched = new Set<string>(plan.nodes.delete.map((n) => n.id));
    for (const n of plan.nodes.update) {
      const before = curNodes.get(n.id);
      if (before && WIRING.some((k) => before[k] !== n[k])) touched.add(n.id);
    }
    const uuids = new Set(plan.gpus.delete.map((g) => g.uuid));
    for (const g of plan.gpus.update) uuids.add(g.uuid);
    for (const g of current.gpus) if (touched.has(g.nodeId)) uuids.add(g.uuid);
    if (uuids.size === 0) return;
    const held = await this.ports.leasesHolding(s.db, [...uuids]);
    if (held.length === 0) return;
    const gpuNode = new Map(current.gpus.map((g) => [g.uuid, g.nodeId]));
    const nodes = [...new Set(held.map((h) => gpuNode.get(h.gpuUuid) ?? h.gpuUuid))].sort();
    const leases = [...new Set(held.map((h) => h.leaseId))].sort();
    throw new DomainError(
      'conflict',
      `cannot remove or re-wire node${nodes.length > 1 ? 's' : ''} ${nodes.slice(0, 5).join(', ')}${nodes.length > 5 ? ` and ${nodes.length - 5} more` : ''}: ` +
        `${leases.length} lease${leases.length > 1 ? 's hold' : ' holds'} its GPUs now or later (${leases.slice(0, 3).join(', ')}${leases.length > 3 ? ', …' : ''}). ` +
        'Drain the node (nodeStates: draining) and wait for or release the leases first.',
      { nodes, leases },
    );
  }
}
