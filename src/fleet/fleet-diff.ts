/**
 * Compares a desired fleet with the stored one, entity kind by entity kind, by id.
 * Applying the plan makes stored == desired; an empty plan means the apply changes nothing.
 */
import type { Fleet } from './fleet-types.js';

type Kind = 'powerSources' | 'sites' | 'halls' | 'fabrics' | 'nvlinks' | 'nodes' | 'gpus' | 'prices';
export const FLEET_KINDS: readonly Kind[] = ['powerSources', 'sites', 'halls', 'fabrics', 'nvlinks', 'nodes', 'gpus', 'prices'];

export interface KindPlan<T> {
  create: T[];
  update: T[];
  delete: T[];
}

export type FleetPlan = { [K in Kind]: KindPlan<Fleet[K][number]> };

export function entityKey(kind: Kind, e: object): string {
  if (kind === 'gpus') return (e as { uuid: string }).uuid;
  if (kind === 'prices') {
    const p = e as { gpuModel: string; leaseClass: string };
    return `${p.gpuModel}/${p.leaseClass}`;
  }
  return (e as { id: string }).id;
}

function sameFields(a: object, b: object): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => (a as Record<string, unknown>)[k] === (b as Record<string, unknown>)[k]);
}

function diffKind<T extends object>(kind: Kind, current: readonly T[], desired: readonly T[]): KindPlan<T> {
  const cur = new Map(current.map((e) => [entityKey(kind, e), e]));
  const plan: KindPlan<T> = { create: [], update: [], delete: [] };
  const want = new Set<string>();
  for (const d of desired) {
    const key = entityKey(kind, d);
    want.add(key);
    const c = cur.get(key);
    if (!c) plan.create.push(d);
    else if (!sameFields(c, d)) plan.update.push(d);
  }
  for (const [key, c] of cur) if (!want.has(key)) plan.delete.push(c);
  return plan;
}

export function diffFleet(current: Fleet, desired: Fleet): FleetPlan {
  const plan = {} as Record<Kind, KindPlan<object>>;
  for (const k of FLEET_KINDS) plan[k] = diffKind<object>(k, current[k] as readonly object[], desired[k] as readonly object[]);
  return plan as FleetPlan;
}

export function planIsEmpty(plan: FleetPlan): boolean {
  return FLEET_KINDS.every((k) => plan[k].create.length + plan[k].update.length + plan[k].delete.length === 0);
}

export function planSummary(plan: FleetPlan): Record<Kind, { created: number; updated: number; deleted: number }> {
  const out = {} as Record<Kind, { created: number; updated: number; deleted: number }>;
  for (const k of FLEET_KINDS) {
    out[k] = { created: plan[k].create.length, updated: plan[k].update.length, deleted: plan[k].delete.length };
  }
  return out;
}
