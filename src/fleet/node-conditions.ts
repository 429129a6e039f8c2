/**
 * A node's state is derived, not set: the worst of what the spec says (`nodeStates`), what the
 * operator said (drain → draining; cordon → down) and what its health says (a reason → down).
 * A spec apply, an operator command and a health verdict all recompute it with the same rule
 * (effectiveState), and the result goes through the same fleet diff and failure path.
 *
 * The fleet's GPU UUIDs are the real ones where an agent has reported them: a node whose spec gives
 * no UUIDs (synthetic ones) takes the discovered UUIDs by index (overlayFleet).
 */
import { syntheticGpuUuid } from './fleet-spec.js';
import type { Fleet, NodeState } from './fleet-types.js';

export type AdminCondition = 'drain' | 'cordon';

export interface NodeCondition {
  nodeId: string;
  admin: AdminCondition | null;
  /** Why the node's health took it down, or null when healthy. */
  healthReason: string | null;
  healthSinceMs: number | null;
}

export interface DiscoveredGpu {
  nodeId: string;
  index: number;
  uuid: string;
  serial: string | null;
  pciBusId: string | null;
}

const RANK: Record<NodeState, number> = { ready: 0, draining: 1, down: 2 };

/** The worst of the spec's state and the node's conditions. */
export function effectiveState(spec: NodeState, c: Pick<NodeCondition, 'admin' | 'healthReason'> | undefined): NodeState {
  if (!c) return spec;
  const cond: NodeState = c.healthReason !== null || c.admin === 'cordon' ? 'down' : c.admin === 'drain' ? 'draining' : 'ready';
  return RANK[cond] > RANK[spec] ? cond : spec;
}

/**
 * Returns `base` with each node's state = effectiveState(its spec state, its condition), and the
 * discovered UUIDs in place of synthetic ones (a node whose GPUs the spec names keeps them).
 * `specStates`: non-ready states of the spec; nodes absent are `ready`. Does not mutate `base`.
 */
export function overlayFleet(base: Fleet, specStates: ReadonlyMap<string, NodeState>, conds: ReadonlyMap<string, NodeCondition>, discovered: readonly DiscoveredGpu[]): Fleet {
  const nodes = base.nodes.map((n) => {
    const state = effectiveState(specStates.get(n.id) ?? 'ready', conds.get(n.id));
    return state === n.state ? n : { ...n, state };
  });
  if (discovered.length === 0) return { ...base, nodes };
  const real = new Map(discovered.map((d) => [`${d.nodeId}\u0000${d.index}`, d.uuid]));
  const gpus = base.gpus.map((g) => {
    const uuid = real.get(`${g.nodeId}\u0000${g.index}`);
    return uuid !== undefined && uuid !== g.uuid && g.uuid === syntheticGpuUuid(g.nodeId, g.index) ? { ...g, uuid } : g;
  });
  return { ...base, nodes, gpus };
}
