/**
 * GPU models neocloud knows, with vendor figures.
 *
 * - `tdpW`: the board power limit per GPU.
 * - `serverOverhead`: whole-server (or whole-rack) power divided by the GPUs' summed TDP — CPUs,
 *   NICs, switches, fans and PSU losses. Derived from the vendors' maximum system power.
 * - `nodeGpus`: GPUs per server (per compute tray for rack-scale systems).
 * - `nvlink`: `hgx` = the NVLink domain is the 8-GPU server; `nvl72` = a 72-GPU rack.
 *
 * Sources: NVIDIA H100 Tensor Core GPU datasheet (SXM5: 80 GB HBM3, up to 700 W) and DGX H100
 * user guide (10.2 kW max); NVIDIA H200 datasheet (141 GB HBM3e, up to 700 W; DGX H200 10.2 kW);
 * NVIDIA DGX B200 datasheet (1,440 GB total = 180 GB per GPU, ~14.3 kW max, 1,000 W per GPU);
 * NVIDIA GB200 NVL72 datasheet (13.4 TB HBM3e per 72 GPUs = 186 GB, 1,200 W per GPU, ~132 kW
 * per rack); AMD Instinct MI300X datasheet (192 GB HBM3, 750 W; 8-GPU OAM platforms ~10 kW).
 */
export interface GpuModelSpec {
  readonly id: GpuModelId;
  readonly vendor: 'nvidia' | 'amd';
  readonly name: string;
  readonly memoryGb: number;
  readonly tdpW: number;
  readonly serverOverhead: number;
  readonly nodeGpus: number;
  readonly nvlink: 'hgx' | 'nvl72';
  /** Default list prices, integer micro-dollars per GPU-hour, by lease class. */
  readonly listPriceMicrosPerGpuHour: Readonly<Record<LeaseClassForPricing, number>>;
}

/** `internal` is the owner's own work: no rental revenue (finance will charge it at cost). */
export type LeaseClassForPricing = 'reserved' | 'on-demand' | 'spot' | 'internal';

export const GPU_MODEL_IDS = ['H100-SXM', 'H200', 'B200', 'GB200', 'MI300X'] as const;
export type GpuModelId = (typeof GPU_MODEL_IDS)[number];

/** GPUs in one NVL72 rack (NVIDIA GB200 NVL72: 18 compute trays × 4 GPUs). */
export const NVL72_RACK_GPUS = 72;

export const GPU_CATALOG: Readonly<Record<GpuModelId, GpuModelSpec>> = {
  'H100-SXM': {
    id: 'H100-SXM', vendor: 'nvidia', name: 'NVIDIA H100 SXM5 80GB', memoryGb: 80, tdpW: 700,
    serverOverhead: 10_200 / (8 * 700), nodeGpus: 8, nvlink: 'hgx',
    listPriceMicrosPerGpuHour: { reserved: 1_890_000, 'on-demand': 2_490_000, spot: 1_350_000, internal: 0 },
  },
  H200: {
    id: 'H200', vendor: 'nvidia', name: 'NVIDIA H200 SXM 141GB', memoryGb: 141, tdpW: 700,
    serverOverhead: 10_200 / (8 * 700), nodeGpus: 8, nvlink: 'hgx',
    listPriceMicrosPerGpuHour: { reserved: 2_290_000, 'on-demand': 3_100_000, spot: 1_700_000, internal: 0 },
  },
  B200: {
    id: 'B200', vendor: 'nvidia', name: 'NVIDIA B200 180GB', memoryGb: 180, tdpW: 1000,
    serverOverhead: 14_300 / (8 * 1000), nodeGpus: 8, nvlink: 'hgx',
    listPriceMicrosPerGpuHour: { reserved: 3_490_000, 'on-demand': 4_990_000, spot: 2_600_000, internal: 0 },
  },
  GB200: {
    id: 'GB200', vendor: 'nvidia', name: 'NVIDIA GB200 NVL72 (186GB)', memoryGb: 186, tdpW: 1200,
    serverOverhead: 132_000 / (72 * 1200), nodeGpus: 4, nvlink: 'nvl72',
    listPriceMicrosPerGpuHour: { reserved: 4_200_000, 'on-demand': 5_990_000, spot: 3_100_000, internal: 0 },
  },
  MI300X: {
    id: 'MI300X', vendor: 'amd', name: 'AMD Instinct MI300X 192GB', memoryGb: 192, tdpW: 750,
    serverOverhead: 10_000 / (8 * 750), nodeGpus: 8, nvlink: 'hgx',
    listPriceMicrosPerGpuHour: { reserved: 1_690_000, 'on-demand': 2_290_000, spot: 1_150_000, internal: 0 },
  },
};

export function isGpuModelId(value: string): value is GpuModelId {
  return (GPU_MODEL_IDS as readonly string[]).includes(value);
}

/**
 * Facility power one running GPU draws, in watts: TDP × server overhead × PUE. Rounded up so
 * capacity math never overcommits a cap.
 */
export function facilityWattsPerGpu(model: GpuModelId, pue: number): number {
  const spec = GPU_CATALOG[model];
  return Math.ceil(spec.tdpW * spec.serverOverhead * pue);
}
