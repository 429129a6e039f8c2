/**
 * The fleet's queries: load the whole fleet, write a plan (a diff) in 1,000-row chunks. Rows to
 * domain values and back; the same code on PGlite and PostgreSQL.
 */
import { and, eq, inArray } from 'drizzle-orm';
import { CHUNK, type Db } from '../store/index.js';
import * as t from './fleet-schema.js';
import type { FleetPlan } from './fleet-diff.js';
import type { GpuModelId } from './gpu-catalog.js';
import type { Fleet, NodeState, PriceEntry } from './fleet-types.js';
import type { AdminCondition, DiscoveredGpu, NodeCondition } from './node-conditions.js';

export class FleetRepo {
  constructor(readonly db: Db) {}

  tx<T>(fn: (r: FleetRepo) => Promise<T>): Promise<T> {
    return this.db.transaction((tx) => fn(new FleetRepo(tx as unknown as Db)));
  }

  async loadFleet(): Promise<Fleet> {
    // Sequential: inside a transaction all queries share one connection.
    const sites = await this.db.select().from(t.sites).orderBy(t.sites.id);
    const powerSources = await this.db.select().from(t.powerSources).orderBy(t.powerSources.id);
    const halls = await this.db.select().from(t.halls).orderBy(t.halls.id);
    const fabrics = await this.db.select().from(t.fabrics).orderBy(t.fabrics.id);
    const nvlinks = await this.db.select().from(t.nvlinks).orderBy(t.nvlinks.id);
    const nodes = await this.db.select().from(t.nodes).orderBy(t.nodes.id);
    const gpus = await this.db.select().from(t.gpus).orderBy(t.gpus.nodeId, t.gpus.index);
    const prices = await this.db.select().from(t.prices).orderBy(t.prices.gpuModel, t.prices.leaseClass);
    return {
      sites,
      powerSources: powerSources.map((p) => ({ ...p, kind: p.kind as Fleet['powerSources'][number]['kind'] })),
      halls,
      fabrics: fabrics.map((f) => ({ ...f, kind: f.kind as Fleet['fabrics'][number]['kind'] })),
      nvlinks: nvlinks.map((n) => ({ ...n, kind: n.kind as Fleet['nvlinks'][number]['kind'] })),
      nodes: nodes.map((n) => ({ ...n, gpuModel: n.gpuModel as GpuModelId, state: n.state as NodeState })),
      gpus: gpus.map((g) => ({ ...g, model: g.model as GpuModelId })),
      prices: prices.map((p) => ({ ...p, gpuModel: p.gpuModel as GpuModelId, leaseClass: p.leaseClass as PriceEntry['leaseClass'] })),
    };
  }

  /** Writes a plan; call inside tx(). Deletes children first, inserts parents first. */
  async applyFleetPlan(plan: FleetPlan, progress: (shareDone: number) => void = () => undefined): Promise<void> {
    const db = this.db;
    const total = Object.values(plan).reduce((a, p) => a + p.create.length + p.update.length + p.delete.length, 0) || 1;
    let written = 0;
    // Chunked, with a macrotask turn between chunks so a large apply never holds the event
    // loop (an embedded PGlite runs each statement on the main thread).
    const chunked = async <T>(rows: T[], go: (chunk: T[]) => Promise<unknown>): Promise<void> => {
      for (let i = 0; i < rows.length; i += CHUNK) {
        await go(rows.slice(i, i + CHUNK));
        written += Math.min(CHUNK, rows.length - i);
        progress(written / total);
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    };
    const del = chunked;
    const ins = chunked;
    for (const p of plan.prices.delete) {
      await db.delete(t.prices).where(and(eq(t.prices.gpuModel, p.gpuModel), eq(t.prices.leaseClass, p.leaseClass)));
    }
    await del(plan.gpus.delete, (r) => db.delete(t.gpus).where(inArray(t.gpus.uuid, r.map((g) => g.uuid))));
    await del(plan.nodes.delete, (r) => db.delete(t.nodes).where(inArray(t.nodes.id, r.map((x) => x.id))));
    await del(plan.nvlinks.delete, (r) => db.delete(t.nvlinks).where(inArray(t.nvlinks.id, r.map((x) => x.id))));
    await del(plan.fabrics.delete, (r) => db.delete(t.fabrics).where(inArray(t.fabrics.id, r.map((x) => x.id))));
    await del(plan.halls.delete, (r) => db.delete(t.halls).where(inArray(t.halls.id, r.map((x) => x.id))));
    await del(plan.powerSources.delete, (r) => db.delete(t.powerSources).where(inArray(t.powerSources.id, r.map((x) => x.id))));
    await del(plan.sites.delete, (r) => db.delete(t.sites).where(inArray(t.sites.id, r.map((x) => x.id))));

    await ins(plan.sites.create, (r) => db.insert(t.sites).values(r));
    for (const s of plan.sites.update) await db.update(t.sites).set(s).where(eq(t.sites.id, s.id));
    await ins(plan.powerSources.create, (r) => db.insert(t.powerSources).values(r));
    for (const p of plan.powerSources.update) await db.update(t.powerSources).set(p).where(eq(t.powerSources.id, p.id));
    await ins(plan.halls.create, (r) => db.insert(t.halls).values(r));
    for (const h of plan.halls.update) await db.update(t.halls).set(h).where(eq(t.halls.id, h.id));
    await ins(plan.fabrics.create, (r) => db.insert(t.fabrics).values(r));
    for (const f of plan.fabrics.update) await db.update(t.fabrics).set(f).where(eq(t.fabrics.id, f.id));
    await ins(plan.nvlinks.create, (r) => db.insert(t.nvlinks).values(r));
    for (const n of plan.nvlinks.update) await db.update(t.nvlinks).set(n).where(eq(t.nvlinks.id, n.id));
    await ins(plan.nodes.create, (r) => db.insert(t.nodes).values(r));
    for (const n of plan.nodes.update) await db.update(t.nodes).set(n).where(eq(t.nodes.id, n.id));
    // A GPU enters the registry with its first install and stays there (leases' rows reference it).
    await ins(plan.gpus.create, async (r) => {
      await db.insert(t.gpuRegistry).values(r.map((g) => ({ uuid: g.uuid, model: g.model }))).onConflictDoNothing();
      await db.insert(t.gpus).values(r);
    });
    for (const g of plan.gpus.update) await db.update(t.gpus).set(g).where(eq(t.gpus.uuid, g.uuid));
    await ins(plan.prices.create, (r) => db.insert(t.prices).values(r));
    for (const p of plan.prices.update) {
      await db.update(t.prices).set(p).where(and(eq(t.prices.gpuModel, p.gpuModel), eq(t.prices.leaseClass, p.leaseClass)));
    }
  }

  /** The non-ready node states of the last applied spec. */
  async loadSpecStates(): Promise<Map<string, NodeState>> {
    const rows = await this.db.select().from(t.fleetSpecStates);
    return new Map(rows.map((r) => [r.nodeId, r.state as NodeState]));
  }

  /** Replaces the spec's node states (call inside the apply's transaction). */
  async saveSpecStates(states: Record<string, NodeState>): Promise<void> {
    await this.db.delete(t.fleetSpecStates);
    const rows = Object.entries(states).filter(([, st]) => st !== 'ready').map(([nodeId, state]) => ({ nodeId, state }));
    for (let i = 0; i < rows.length; i += CHUNK) await this.db.insert(t.fleetSpecStates).values(rows.slice(i, i + CHUNK));
  }

  async loadConditions(): Promise<Map<string, NodeCondition>> {
    const rows = await this.db.select().from(t.nodeConditions);
    return new Map(rows.map((r) => [r.nodeId, {
      nodeId: r.nodeId, admin: r.admin as AdminCondition | null, healthReason: r.healthReason, healthSinceMs: r.healthSince?.getTime() ?? null,
    }]));
  }

  /** Sets a node's condition (a row with neither admin nor health is deleted). */
  async saveCondition(c: NodeCondition, nowMs: number): Promise<void> {
    if (c.admin === null && c.healthReason === null) {
      await this.db.delete(t.nodeConditions).where(eq(t.nodeConditions.nodeId, c.nodeId));
      return;
    }
    const row = { admin: c.admin, healthReason: c.healthReason, healthSince: c.healthSinceMs === null ? null : new Date(c.healthSinceMs), updatedAt: new Date(nowMs) };
    await this.db.insert(t.nodeConditions).values({ nodeId: c.nodeId, ...row }).onConflictDoUpdate({ target: t.nodeConditions.nodeId, set: row });
  }

  /** A node's GPUs as stored (index order). */
  async nodeGpus(nodeId: string): Promise<{ uuid: string; index: number }[]> {
    return this.db.select({ uuid: t.gpus.uuid, index: t.gpus.index }).from(t.gpus).where(eq(t.gpus.nodeId, nodeId)).orderBy(t.gpus.index);
  }

  async loadDiscovered(nodeId?: string): Promise<DiscoveredGpu[]> {
    const q = this.db.select().from(t.discoveredGpus);
    const rows = await (nodeId === undefined ? q : q.where(eq(t.discoveredGpus.nodeId, nodeId))).orderBy(t.discoveredGpus.nodeId, t.discoveredGpus.index);
    return rows.map((r) => ({ nodeId: r.nodeId, index: r.index, uuid: r.uuid, serial: r.serial, pciBusId: r.pciBusId }));
  }

  async replaceDiscovered(nodeId: string, gpus: readonly DiscoveredGpu[], nowMs: number): Promise<void> {
    await this.db.delete(t.discoveredGpus).where(eq(t.discoveredGpus.nodeId, nodeId));
    if (gpus.length) await this.db.insert(t.discoveredGpus).values(gpus.map((g) => ({ ...g, nodeId, discoveredAt: new Date(nowMs) })));
  }
}
