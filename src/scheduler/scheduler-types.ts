/**
 * Types shared by the scheduling engine, the simulator, workload generators and trace importers.
 * Times in the simulator are seconds on a virtual clock (`…S`); money is integer micro-dollars.
 */

/** Work classes, highest priority first. `internal` is the owner's own work (policy decides its rank). */
export const JOB_CLASSES = ['reserved', 'on-demand', 'internal', 'spot'] as const;
export type JobClass = (typeof JOB_CLASSES)[number];

/** Gang constraint: all GPUs in one NVLink domain, one fabric domain, one site, or anywhere. */
export const GANG_LEVELS = ['nvlink', 'fabric', 'site', 'any'] as const;
export type GangLevel = (typeof GANG_LEVELS)[number];

/** One unit of work to schedule (a lease request, a trace task, a synthetic job). */
export interface JobSpec {
  /** Unique within a workload. */
  id: string;
  /** When the request arrives, seconds from the start of the run. */
  submitS: number;
  /** A future capacity block starts here (reserved jobs); absent = as soon as possible. */
  startS?: number;
  /** How long it runs once started, seconds (> 0). */
  durationS: number;
  /** Allowed GPU models (any one of them; all GPUs of a job share one model); empty = any model. */
  gpuModels: string[];
  /** Whole GPUs, 1..16,384; for GPU-sharing tasks 1 with `gpuMilli` < 1000. */
  gpus: number;
  /** Share of one GPU in thousandths, for GPU-sharing tasks (Alibaba openb); default 1000. */
  gpuMilli?: number;
  placement: GangLevel;
  jobClass: JobClass;
  /** Revenue rate (for spot: the max price bid), integer micro-dollars per GPU-hour. */
  priceMicrosPerGpuHour: number;
  tenant?: string;
}

/**
 * A fleet as the engine and simulator read it: nodes with their place in the topology.
 * Built from a neocloud fleet spec, a trace's node list, or a synthetic generator.
 */
export interface FleetLayout {
  sites: { id: string; powerCapW: number; pue: number }[];
  halls: { id: string; siteId: string; powerCapW: number }[];
  /** Nodes grouped in topology order. `nvlinkId` is shared by the trays of one NVL72 rack; HGX nodes use their own id. */
  nodes: {
    id: string;
    model: string;
    gpus: number; // 1..8
    siteId: string;
    hallId: string;
    fabricId: string;
    nvlinkId: string;
    /** Facility watts per running GPU (TDP × server overhead × PUE); 0 when unknown (power not modelled). */
    wattsPerGpu: number;
  }[];
}

/**
 * A node as the share-aware placement core (share-cluster.ts, the inflation protocol) reads it:
 * GPUs that tasks may share in 1/1000 units, CPU and memory. A task fits only where its CPU,
 * memory, GPU share and GPU model all fit (Weng et al., ATC'23, §2: a node whose CPUs are taken
 * strands its GPUs).
 */
export interface ShareNode {
  id: string;
  /** GPU model label ('' for a CPU-only node). */
  model: string;
  /** GPUs on the node, 0..64 (0: a CPU-only node). */
  gpus: number;
  /** CPU in millicores; Infinity when the node list does not say (not modelled). */
  cpuMilli: number;
  /** Memory in MiB; Infinity when the node list does not say (not modelled). */
  memoryMib: number;
}

/** One task of the inflation protocol (an openb pod): what it needs on one node. */
export interface ShareTask {
  id: string;
  cpuMilli: number;
  memoryMib: number;
  /** GPUs, 0..8 (0: a CPU-only task). */
  gpus: number;
  /** Share of each GPU in 1/1000: 1..1000 when gpus = 1 (below 1000: GPU-sharing), 1000 when gpus > 1, 0 when gpus = 0. */
  gpuMilli: number;
  /** Allowed GPU models (any one of them); empty = any model. */
  models: string[];
}
