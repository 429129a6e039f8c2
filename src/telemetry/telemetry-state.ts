/**
 * What the control plane knows from its agents, in memory: the latest heartbeat per node (a sample
 * per GPU), measured power summed per node, hall and site (kept incrementally: an ingest adjusts
 * its hall and site by the node's change), and a downsampled history (per-minute mean and peak of
 * samples taken every `sample()` call). Pure: no clock, no I/O; every call is given `nowMs`.
 *
 * Every rejected message is counted by reason (`malformed`, `unknown_node`, `unknown_gpu`,
 * `forged`, `revoked`, `bad_signature`, `duplicate`), and nothing here throws on bad input: ingest
 * answers a rejection instead. An impossible reading (power −1 W, 101 % utilisation) is not a
 * rejection: the heartbeat is taken, that field is refused (null) and the GPU marked faulty
 * (node-health.ts readingFaults); such fields are counted in `refusedReadings`.
 */
import { validateHeartbeat, WireError, type AdminState, type GpuSample, type Heartbeat } from '../agent/agent-wire.js';
import { GPU_CATALOG, type Fleet } from '../fleet/index.js';
import { healthOf, readingBounds, readingFaults, type ReadingBounds } from './node-health.js';

export type RejectReason = 'malformed' | 'unknown_node' | 'unknown_gpu' | 'forged' | 'revoked' | 'bad_signature' | 'duplicate';
export const REJECT_REASONS: readonly RejectReason[] = ['malformed', 'unknown_node', 'unknown_gpu', 'forged', 'revoked', 'bad_signature', 'duplicate'];

interface NodeMeta {
  nodeId: string;
  siteId: string;
  hallId: string;
  /** The node's state in the fleet (ready, draining, down). */
  state: string;
  uuids: readonly string[];
  uuidSet: ReadonlySet<string>;
  /** Facility watts per GPU board watt: server overhead × site PUE (as the capacity math turns TDP into facility power). */
  facilityFactor: number;
  /** What a sane reading of the node's GPU model can be. */
  bounds: ReadingBounds;
}

export interface NodeLive {
  nodeId: string;
  agentId: string;
  seq: number;
  lastSeenMs: number;
  sentAtMs: number;
  intervalMs: number;
  adminAck: AdminState;
  gpus: GpuSample[];
  /** Per GPU (same order as `gpus`): why its last sample had impossible readings, or null. */
  faults: (string | null)[];
  /** Sum of the GPUs' board power, W (GPUs reporting no power count 0). */
  gpuW: number;
  /** The last heartbeat's health verdict (null: healthy). */
  verdict: string | null;
  /** Since when every heartbeat was healthy (null: the last one was not). */
  cleanSinceMs: number | null;
  /** The last-seen time this process last wrote to the store for the node (0: none); see TelemetryService.flushLastSeen. */
  storedSeenMs: number;
  /** Per-minute mean board power, the last HISTORY_MINUTES minutes (oldest first). */
  history: { minuteMs: number; meanW: number }[];
}

export type IngestResult =
  | { ok: true; node: NodeLive; verdict: string | null }
  | { ok: false; reason: RejectReason; field: string; message: string };

export interface ScopePower {
  gpuW: number;
  /** gpuW × server overhead × PUE: comparable with leased (facility) watts. */
  facilityW: number;
  reportingNodes: number;
}

/** Minutes of per-node history kept in memory; sites and halls are also written to power_history. */
export const HISTORY_MINUTES = 60;
const MINUTE_MS = 60_000;

interface Accum { sum: number; peak: number; n: number }

const NO_XIDS: number[] = [];

/** Copies `from` into `into`, reusing its sample objects (see ingest). */
function copySamples(into: GpuSample[], from: readonly GpuSample[]): void {
  into.length = from.length;
  for (let i = 0; i < from.length; i++) {
    const f = from[i]!;
    const t = into[i];
    if (t === undefined) {
      into[i] = { ...f, xids: f.xids.length ? [...f.xids] : NO_XIDS };
      continue;
    }
    t.uuid = f.uuid; t.index = f.index; t.powerW = f.powerW; t.powerLimitW = f.powerLimitW; t.utilizationPct = f.utilizationPct;
    t.memoryUsedMiB = f.memoryUsedMiB; t.memoryTotalMiB = f.memoryTotalMiB; t.temperatureC = f.temperatureC;
    t.eccUncorrected = f.eccUncorrected; t.xids = f.xids.length ? [...f.xids] : NO_XIDS; t.recoveryAction = f.recoveryAction;
  }
}

export class TelemetryState {
  private meta = new Map<string, NodeMeta>();
  private readonly live = new Map<string, NodeLive>();
  private readonly hallW = new Map<string, { gpuW: number; facilityW: number; nodes: number }>();
  private readonly siteW = new Map<string, { gpuW: number; facilityW: number; nodes: number }>();
  readonly rejected: Record<RejectReason, number> = Object.fromEntries(REJECT_REASONS.map((r) => [r, 0])) as Record<RejectReason, number>;
  accepted = 0;
  samples = 0;
  /** GPU samples taken with one or more impossible readings refused (the heartbeat itself taken). */
  refusedReadings = 0;
  /** Scratch for one heartbeat's per-GPU faults (the ingest path allocates no array of its own). */
  private readonly scratchFaults: (string | null)[] = [];
  private minuteMs = -1;
  private readonly acc = new Map<string, Accum>();

  /** Rebuilds the node index from the fleet (call on every fleet change); drops nodes that left. */
  setFleet(fleet: Fleet): void {
    const pue = new Map(fleet.sites.map((s) => [s.id, s.pue]));
    const uuids = new Map<string, string[]>();
    for (const g of fleet.gpus) {
      const list = uuids.get(g.nodeId);
      if (list) list.push(g.uuid);
      else uuids.set(g.nodeId, [g.uuid]);
    }
    const meta = new Map<string, NodeMeta>();
    for (const n of fleet.nodes) {
      const u = uuids.get(n.id) ?? [];
      meta.set(n.id, {
        nodeId: n.id, siteId: n.siteId, hallId: n.hallId, state: n.state, uuids: u, uuidSet: new Set(u),
        facilityFactor: GPU_CATALOG[n.gpuModel].serverOverhead * (pue.get(n.siteId) ?? 1), bounds: readingBounds(n.gpuModel),
      });
    }
    this.meta = meta;
    for (const id of [...this.live.keys()]) if (!meta.has(id)) this.live.delete(id);
    this.recomputeSums();
  }

  private recomputeSums(): void {
    this.hallW.clear();
    this.siteW.clear();
    for (const l of this.live.values()) this.addToScopes(this.meta.get(l.nodeId)!, l.gpuW, 1);
  }

  private addToScopes(m: NodeMeta, gpuW: number, nodes: number): void {
    this.addTo(this.hallW, m.hallId, m, gpuW, nodes);
    this.addTo(this.siteW, m.siteId, m, gpuW, nodes);
  }

  private addTo(map: Map<string, { gpuW: number; facilityW: number; nodes: number }>, id: string, m: NodeMeta, gpuW: number, nodes: number): void {
    let e = map.get(id);
    if (!e) map.set(id, (e = { gpuW: 0, facilityW: 0, nodes: 0 }));
    e.gpuW += gpuW;
    e.facilityW += gpuW * m.facilityFactor;
    e.nodes += nodes;
  }

  /** The node's site (null: not in the fleet). A map read: the ingest path must not scan the fleet. */
  siteOf(nodeId: string): string | null {
    return this.meta.get(nodeId)?.siteId ?? null;
  }

  nodeState(nodeId: string): string | null {
    return this.meta.get(nodeId)?.state ?? null;
  }

  facilityFactor(nodeId: string): number {
    return this.meta.get(nodeId)?.facilityFactor ?? 1;
  }

  hasNode(nodeId: string): boolean {
    return this.meta.has(nodeId);
  }

  expectedUuids(nodeId: string): readonly string[] | undefined {
    return this.meta.get(nodeId)?.uuids;
  }

  reject(reason: RejectReason, field: string, message: string): IngestResult {
    this.rejected[reason]++;
    return { ok: false, reason, field, message };
  }

  /**
   * Takes one heartbeat from the agent `agentId` enrolled for `agentNodeId`. `raw` is parsed JSON
   * (unvalidated). Refused, and counted: a malformed message (structure, types), a node not in
   * the fleet, a report for another node than the agent's (forged), a GPU UUID the node does not
   * have, a sequence number already seen (duplicate: JetStream redelivery or an HTTP retry).
   * Taken, with the field refused and the GPU faulty: an impossible reading (readingFaults).
   */
  ingest(raw: unknown, agentId: string, agentNodeId: string, nowMs: number): IngestResult {
    let hb: Heartbeat;
    try {
      hb = validateHeartbeat(raw);
    } catch (err) {
      if (err instanceof WireError) return this.reject('malformed', err.field, err.message);
      throw err;
    }
    if (hb.nodeId !== agentNodeId || hb.agentId !== agentId) {
      return this.reject('forged', 'nodeId', `nodeId: agent ${agentId} may report only for node ${agentNodeId}, not ${hb.nodeId}`);
    }
    const m = this.meta.get(hb.nodeId);
    if (!m) return this.reject('unknown_node', 'nodeId', `nodeId: node ${hb.nodeId} is not in the fleet`);
    for (let i = 0; i < hb.gpus.length; i++) {
      if (!m.uuidSet.has(hb.gpus[i]!.uuid)) return this.reject('unknown_gpu', `gpus[${i}].uuid`, `gpus[${i}].uuid: ${hb.gpus[i]!.uuid} is not a GPU of node ${hb.nodeId}`);
    }
    const prev = this.live.get(hb.nodeId);
    if (prev && prev.agentId === agentId && hb.seq <= prev.seq) return this.reject('duplicate', 'seq', `seq: ${hb.seq} already received (last ${prev.seq})`);
    // Impossible readings first: they are set to null, so they count in no sum below.
    const faults = this.scratchFaults;
    faults.length = hb.gpus.length;
    let faulty = 0;
    for (let i = 0; i < hb.gpus.length; i++) {
      const f = readingFaults(hb.gpus[i]!, m.bounds);
      faults[i] = f;
      if (f !== null) faulty++;
    }
    let gpuW = 0;
    for (const g of hb.gpus) gpuW += g.powerW ?? 0;
    const verdict = healthOf(hb, m.uuids, faults);
    const cleanSinceMs = verdict !== null ? null : (prev?.verdict === null && prev.cleanSinceMs !== null ? prev.cleanSinceMs : nowMs);
    this.addToScopes(m, gpuW - (prev?.gpuW ?? 0), prev ? 0 : 1);
    // Updated in place: the node's record and its GPU samples live as long as the node, while the
    // parsed message dies young (keeping it would promote every heartbeat to the old generation;
    // the collector then took more time than the ingest itself at 12,500 heartbeats/s).
    let node = prev;
    if (!node) {
      node = {
        nodeId: hb.nodeId, agentId, seq: 0, lastSeenMs: 0, sentAtMs: 0, intervalMs: 0, adminAck: 'none', gpus: [], faults: [], gpuW: 0, verdict: null, cleanSinceMs: null, storedSeenMs: 0, history: [],
      };
      this.live.set(hb.nodeId, node);
    }
    node.agentId = agentId;
    node.seq = hb.seq;
    node.lastSeenMs = nowMs;
    node.sentAtMs = hb.sentAtMs;
    node.intervalMs = hb.intervalMs;
    node.adminAck = hb.adminState;
    node.gpuW = gpuW;
    node.verdict = verdict;
    node.cleanSinceMs = cleanSinceMs;
    copySamples(node.gpus, hb.gpus);
    node.faults.length = faults.length;
    for (let i = 0; i < faults.length; i++) node.faults[i] = faults[i] ?? null;
    this.refusedReadings += faulty;
    this.accepted++;
    this.samples += hb.gpus.length;
    return { ok: true, node, verdict };
  }

  node(nodeId: string): NodeLive | undefined {
    return this.live.get(nodeId);
  }

  nodes(): IterableIterator<NodeLive> {
    return this.live.values();
  }

  /** Forgets a node's readings (its agent was revoked or re-enrolled). */
  forget(nodeId: string): void {
    const prev = this.live.get(nodeId);
    const m = this.meta.get(nodeId);
    if (prev && m) this.addToScopes(m, -prev.gpuW, -1);
    this.live.delete(nodeId);
  }

  power(scope: 'hall' | 'site', id: string): ScopePower {
    const e = (scope === 'hall' ? this.hallW : this.siteW).get(id);
    return e ? { gpuW: e.gpuW, facilityW: e.facilityW, reportingNodes: e.nodes } : { gpuW: 0, facilityW: 0, reportingNodes: 0 };
  }

  /**
   * Samples the current sums (call every few seconds). When a minute is complete, returns its
   * mean and peak per site and hall (to persist) and adds each node's mean to its history.
   */
  sample(nowMs: number): { scope: 'site' | 'hall'; scopeId: string; minuteMs: number; meanW: number; peakW: number; samples: number }[] {
    const minute = Math.floor(nowMs / MINUTE_MS) * MINUTE_MS;
    const out: ReturnType<TelemetryState['sample']> = [];
    if (this.minuteMs !== -1 && minute !== this.minuteMs) {
      for (const [key, a] of this.acc) {
        const [scope, id] = key.split('\u0000') as ['site' | 'hall' | 'node', string];
        if (scope === 'node') {
          const l = this.live.get(id);
          if (l) {
            l.history.push({ minuteMs: this.minuteMs, meanW: a.sum / a.n });
            if (l.history.length > HISTORY_MINUTES) l.history.shift();
          }
        } else {
          out.push({ scope, scopeId: id, minuteMs: this.minuteMs, meanW: a.sum / a.n, peakW: a.peak, samples: a.n });
        }
      }
      this.acc.clear();
    }
    this.minuteMs = minute;
    const add = (key: string, w: number): void => {
      const a = this.acc.get(key);
      if (a) { a.sum += w; a.n++; if (w > a.peak) a.peak = w; } else this.acc.set(key, { sum: w, peak: w, n: 1 });
    };
    for (const [id, e] of this.siteW) add(`site\u0000${id}`, e.gpuW);
    for (const [id, e] of this.hallW) add(`hall\u0000${id}`, e.gpuW);
    for (const l of this.live.values()) add(`node\u0000${l.nodeId}`, l.gpuW);
    return out;
  }
}
