/**
 * Applies declarative fleet specs. Idempotent: the spec is diffed against the stored fleet inside
 * one transaction and only the difference is written; an identical spec writes nothing.
 * Removing (or re-wiring) a node whose GPUs hold a current or future lease is refused.
 */
import type { Clock } from '../shared/clock.js';
import { DomainError } from '../shared/errors.js';
import type { Db } from '../store/index.js';
import { EventLog, type CapacityFence } from '../events/index.js';
import { FleetRepo } from './fleet-repo.js';
import { diffFleet, planIsEmpty, planSummary, type FleetPlan } from './fleet-diff.js';
import { expandFleetSpec, syntheticGpuUuid, type FleetSpec } from './fleet-spec.js';
import type { Fleet, FleetNode, NodeState } from './fleet-types.js';
import { overlayFleet, type DiscoveredGpu, type NodeCondition } from './node-conditions.js';

/** What the fleet needs from leasing, wired by the composition root (keeps fleet free of leasing). */
export interface FleetPorts {
  /** Runs `fn` with capacity decisions paused. */
  exclusive<T>(fn: () => Promise<T>): Promise<T>;
  /** Leases holding any of these GPUs at some instant from now on, read through `db` (the apply's transaction). */
  leasesHolding(db: Db, gpuUuids: string[]): Promise<{ leaseId: string; gpuUuid: string }[]>;
  /** The capacity fence a fleet change's append carries (it bumps the version other control planes check). */
  fence(): CapacityFence;
  /**
   * Called (still exclusive) after a change commits, with the nodes that went down in it and,
   * for those a health verdict took down, since when they were unhealthy (epoch ms).
   */
  onApplied(fleet: Fleet, nodesDown: string[], downSinceMs: Record<string, number>): Promise<void>;
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

  /** Every node's conditions (operator's drain/cordon, health), from the store. */
  conditions(): Promise<Map<string, NodeCondition>> {
    return this.store.loadConditions();
  }

  /** A node's GPUs as stored, read through `db` (a caller's transaction). */
  storedGpus(db: Db, nodeId: string): Promise<{ uuid: string; index: number }[]> {
    return new FleetRepo(db).nodeGpus(nodeId);
  }

  current(): Fleet {
    if (!this.fleet) throw new Error('FleetService.load() first');
    return this.fleet;
  }

  /** Applies `spec`; `progress` hears the phase (expanding, diffing, writing, reindexing) and its share done. */
  async apply(spec: FleetSpec, progress: (p: { phase: string; progress: number }) => void = () => undefined): Promise<ApplyResult> {
    progress({ phase: 'expanding', progress: 0 });
    const expanded = expandFleetSpec(spec);
    const specStates = new Map(Object.entries(spec.nodeStates ?? {}).filter(([, st]) => st !== 'ready') as [string, NodeState][]);
    return this.commit(async (s) => {
      await s.saveSpecStates(Object.fromEntries(specStates));
      // Conditions (drain, cordon, health) and discovered GPUs outlive the spec: a spec cannot bring a sick node back.
      return overlayFleet(expanded, specStates, await s.loadConditions(), await s.loadDiscovered());
    }, { cause: 'spec' }, progress);
  }

  /**
   * Sets conditions on nodes (an operator's drain/cordon, a health verdict) and re-derives their
   * state with the spec's; nodes that go down take the same failure path as a spec apply (their
   * leases re-placed or failed), with `cause` in the `fleet.applied` event and one
   * `node.state_changed` event per node whose state changed. `also` runs in the same transaction
   * (e.g. the caller's stored idempotent response).
   */
  async setConditions(
    changes: NodeCondition[], cause: Record<string, unknown>,
    also?: (db: Db, result: { nodeStates: Record<string, NodeState> }) => Promise<void>,
  ): Promise<ApplyResult> {
    return this.commit(async (s, current) => {
      const nodeIds = new Set(current.nodes.map((n) => n.id));
      for (const c of changes) {
        if (!nodeIds.has(c.nodeId)) throw new DomainError('not_found', `node ${c.nodeId} not found`);
        await s.saveCondition(c, this.clock.nowMs());
      }
      return overlayFleet(current, await s.loadSpecStates(), await s.loadConditions(), []);
    }, cause, () => undefined, also);
  }

  /**
   * Records the GPUs an agent discovered on `nodeId` (index → UUID) and makes them the fleet's
   * UUIDs for that node, unless its spec names them. Refused (conflict) while a lease holds the
   * node's GPUs, like any re-wiring.
   */
  async recordDiscovered(nodeId: string, gpus: DiscoveredGpu[], cause: Record<string, unknown>, also?: (db: Db) => Promise<void>): Promise<ApplyResult> {
    return this.commit(async (s, current) => {
      const old = new Map((await s.loadDiscovered(nodeId)).map((d) => [d.index, d.uuid]));
      // GPUs that carry the previous discovery go back to synthetic, so the new discovery replaces them.
      const base = { ...current, gpus: current.gpus.map((g) => (g.nodeId === nodeId && old.get(g.index) === g.uuid ? { ...g, uuid: syntheticGpuUuid(nodeId, g.index) } : g)) };
      await s.replaceDiscovered(nodeId, gpus, this.clock.nowMs());
      return overlayFleet(base, await s.loadSpecStates(), await s.loadConditions(), gpus);
    }, cause, () => undefined, also ? (db) => also(db) : undefined);
  }

  /**
   * The one way the stored fleet changes: under the leasing mutex, in one transaction holding the
   * cell's capacity lock, `desiredOf` computes the fleet wanted; the difference is written with a
   * `fleet.applied` event (and `node.state_changed` per node whose state changed); then the
   * engine's view is rebuilt and leases on nodes that went down are re-placed or failed.
   */
  private async commit(
    desiredOf: (s: FleetRepo, current: Fleet) => Promise<Fleet>, cause: Record<string, unknown>,
    progress: (p: { phase: string; progress: number }) => void,
    also?: (db: Db, result: { nodeStates: Record<string, NodeState> }) => Promise<void>,
  ): Promise<ApplyResult> {
    progress({ phase: 'waiting for leases in flight', progress: 0 });
    return this.ports.exclusive(async () => {
      let nodesDown: string[] = [];
      let desired: Fleet | undefined;
      const downSinceMs: Record<string, number> = {};
      const result = await this.store.tx(async (s) => {
        // Every control plane's capacity writes wait behind this lock, so no booking commits between
        // the held-GPU check below and this commit; their fenced writes then see the fleet changed.
        const log = new EventLog(s.db, this.cell);
        await log.lockCapacity(s.db);
        progress({ phase: 'diffing', progress: 0 });
        const current = await s.loadFleet();
        desired = await desiredOf(s, current);
        const plan = diffFleet(current, desired);
        const nodeStates = Object.fromEntries(desired.nodes.map((n) => [n.id, n.state]));
        if (planIsEmpty(plan)) {
          await also?.(s.db, { nodeStates });
          return { changed: false, summary: planSummary(plan) };
        }
        await this.refuseIfHeld(s, current, plan);
        await s.applyFleetPlan(plan, (done) => progress({ phase: 'writing', progress: done }));
        const before = new Map(current.nodes.map((n) => [n.id, n.state]));
        nodesDown = plan.nodes.update.filter((n) => n.state === 'down' && before.get(n.id) !== 'down').map((n) => n.id).sort();
        const summary = planSummary(plan);
        const now = this.clock.nowMs();
        const conds = await s.loadConditions();
        const changedStates = plan.nodes.update.filter((n) => before.has(n.id) && before.get(n.id) !== n.state);
        for (const n of changedStates) {
          const since = conds.get(n.id)?.healthSinceMs;
          if (n.state === 'down' && since !== null && since !== undefined) downSinceMs[n.id] = since;
        }
        await log.append(s.db, [
          { type: 'fleet.applied', subject: 'fleet', tenantId: null, timeMs: now, data: { summary, nodesDown, ...cause } },
          ...changedStates.map((n) => ({
            type: 'node.state_changed' as const, subject: n.id, tenantId: null, timeMs: now,
            data: { nodeId: n.id, from: before.get(n.id), to: n.state, admin: conds.get(n.id)?.admin ?? null, healthReason: conds.get(n.id)?.healthReason ?? null, ...cause },
          })),
        ], this.ports.fence());
        await also?.(s.db, { nodeStates });
        return { changed: true, summary };
      });
      if (result.changed && desired) {
        progress({ phase: 'reindexing', progress: 0 });
        this.fleet = desired;
        await this.ports.onApplied(desired, nodesDown, downSinceMs);
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
