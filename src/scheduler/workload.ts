/**
 * Synthetic workloads for the scheduler and simulator: seeded, deterministic, fast (1,000,000
 * jobs in about a second; one JobSpec object, its id string and its gpuModels array per job).
 *
 * Shapes follow what published GPU-cluster studies report (Microsoft Philly, Alibaba PAI/openb,
 * SenseTime Helios): most jobs use 1–8 GPUs but a few large gangs hold most GPU-hours; durations
 * are heavy-tailed with a median near an hour. The exact figures below are this generator's
 * choices, not fitted to one trace.
 */
import { JOB_CLASSES, type GangLevel, type JobClass, type JobSpec } from './scheduler-types.js';

/**
 * Mulberry32: a tiny 32-bit seeded PRNG (public domain, Tommy Ettinger). Returns a function
 * yielding floats in [0, 1); the same seed gives the same sequence. Statistically fine for
 * simulation, not for cryptography.
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

export interface SyntheticWorkloadOptions {
  seed: number;
  /** Jobs to generate (≥ 0). */
  jobs: number;
  /** GPUs in the fleet the workload is sized for: sets the arrival rate and caps gang size. */
  fleetGpus: number;
  /** Mean seconds between submissions (Poisson arrivals). Default: the value that offers ~90% of fleetGpus (see `syntheticWorkloadMeans`). */
  meanInterarrivalS?: number;
  /**
   * Relative weights per class; when given, it is the whole mix (a class left out gets 0) and is
   * normalised. Default reserved 10%, on-demand 40%, internal 20%, spot 30%.
   */
  classMix?: Partial<Record<JobClass, number>>;
  /** GPU models to constrain jobs to; when given, 70% of jobs ask for one of them (uniformly), 30% for any. Default: every job any model. */
  models?: string[];
  /** GPUs per fabric domain: gangs larger than this need `site` placement. Default 1024. */
  fabricGpus?: number;
  /** Largest gang; bigger draws are cut to it. Default min(16,384, largest power of two ≤ fleetGpus / 4). */
  maxGangGpus?: number;
}

export const DEFAULT_CLASS_MIX: Readonly<Record<JobClass, number>> = {
  reserved: 0.1, 'on-demand': 0.4, internal: 0.2, spot: 0.3,
};

/** Target offered load: GPU-seconds requested per second ÷ fleet GPUs. */
export const TARGET_OFFERED_LOAD = 0.9;

/** Prices, integer micro-dollars per GPU-hour. Spot jobs bid uniformly in [SPOT_BID_MIN, SPOT_BID_MAX] in steps of 1,000. */
export const WORKLOAD_PRICE_MICROS: Readonly<Record<Exclude<JobClass, 'spot'>, number>> = {
  reserved: 1_900_000, 'on-demand': 2_500_000, internal: 1_500_000,
};
export const SPOT_BID_MIN_MICROS = 800_000;
export const SPOT_BID_MAX_MICROS = 1_600_000;

/**
 * Gang sizes (GPUs) and their probability in percent: 75% small (1–8), 22% medium (16–512),
 * 3% large (1,024–16,384); mostly powers of two, a few multiples of 3 × 2ⁿ as seen in traces.
 */
const GANG_TABLE: readonly (readonly [gpus: number, pct: number])[] = [
  [1, 36], [2, 10], [3, 1], [4, 10], [6, 1], [8, 17],
  [16, 5.5], [24, 1], [32, 4.5], [48, 0.5], [64, 4], [96, 0.5], [128, 2.5], [192, 0.5], [256, 1.7], [384, 0.3], [512, 1],
  [1024, 1.2], [1536, 0.1], [2048, 0.7], [4096, 0.5], [8192, 0.3], [16384, 0.2],
];
export const MAX_GANG_GPUS = 16_384;

/** Durations: lognormal with median 1 h (μ = ln 3600 s) and σ = 2, clamped to [60 s, 30 days], whole seconds. */
const DURATION_MU = Math.log(3600);
const DURATION_SIGMA = 2;
export const MIN_DURATION_S = 60;
export const MAX_DURATION_S = 30 * 86_400;

/** Reserved blocks start 1 h–14 days after submission (85%) or 14–180 days (15%), log-uniform within each range. */
const HOUR_S = 3600;
const TWO_WEEKS_S = 14 * 86_400;
export const MAX_RESERVATION_LEAD_S = 180 * 86_400;
const NEAR_RESERVATION_SHARE = 0.85;

/** Share of non-reserved jobs that accept any placement (loosely coupled work); reserved jobs always get a gang level. */
const ANY_PLACEMENT_SHARE = 0.1;
/** Share of jobs pinned to one model when `models` is given. */
const PINNED_MODEL_SHARE = 0.7;

/** Default cap on gang size for a fleet: a single job asks for at most ~a quarter of it. */
function defaultMaxGang(fleetGpus: number): number {
  let p = 1;
  while (p * 2 <= fleetGpus / 4 && p * 2 <= MAX_GANG_GPUS) p *= 2;
  return p;
}

/**
 * The means behind the default arrival rate, for a fleet size (and optional gang cap):
 * - `meanGangGpus`: E[gpus] over GANG_TABLE after capping;
 * - `meanDurationS`: E[duration] of the clamped lognormal, in closed form —
 *   a·Φ(α) + b·(1 − Φ(β)) + e^{μ+σ²/2}·(Φ(β − σ) − Φ(α − σ)), with α = (ln a − μ)/σ, β = (ln b − μ)/σ
 *   (rounding to whole seconds shifts it negligibly);
 * - `meanInterarrivalS`: Poisson arrivals at rate λ offer λ·E[gpus]·E[duration] GPUs busy on average
 *   (Little's law; size and duration are drawn independently), so λ = 0.9 · fleetGpus / (E[gpus]·E[duration])
 *   and the mean gap is E[gpus]·E[duration] / (0.9 · fleetGpus). Reserved jobs run later than they
 *   arrive, which shifts their load in time but not its long-run rate.
 */
export function syntheticWorkloadMeans(fleetGpus: number, maxGangGpus = defaultMaxGang(fleetGpus)): {
  meanGangGpus: number; meanDurationS: number; meanInterarrivalS: number;
} {
  let g = 0;
  for (const [gpus, pct] of GANG_TABLE) g += (Math.min(gpus, maxGangGpus) * pct) / 100;
  const a = MIN_DURATION_S;
  const b = MAX_DURATION_S;
  const s = DURATION_SIGMA;
  const alpha = (Math.log(a) - DURATION_MU) / s;
  const beta = (Math.log(b) - DURATION_MU) / s;
  const d = a * normCdf(alpha) + b * (1 - normCdf(beta))
    + Math.exp(DURATION_MU + (s * s) / 2) * (normCdf(beta - s) - normCdf(alpha - s));
  return { meanGangGpus: g, meanDurationS: d, meanInterarrivalS: (g * d) / (TARGET_OFFERED_LOAD * fleetGpus) };
}

/**
 * `jobs` synthetic jobs, ids `j0`, `j1`, … in submission order; the same options give the same jobs.
 *
 * - Arrivals: Poisson (exponential gaps with mean `meanInterarrivalS`), first job after one gap.
 * - Gang size: GANG_TABLE (1..16,384 GPUs), cut to `maxGangGpus`.
 * - Duration: lognormal, median 1 h, clamped to [60 s, 30 days], whole seconds; independent of size.
 * - Class: drawn from the mix. Reserved jobs get `startS` = submitS + a lead of 1 h to 180 days
 *   (85% within two weeks).
 * - Placement: ≤ 8 GPUs `nvlink`, ≤ fabricGpus `fabric`, larger `site`; 10% of non-reserved jobs
 *   take `any` instead.
 * - Price (micro-dollars per GPU-hour): reserved 1.9 $, on-demand 2.5 $, internal 1.5 $, spot a
 *   bid uniform in 0.8–1.6 $.
 */
export function syntheticWorkload(opts: SyntheticWorkloadOptions): JobSpec[] {
  const { seed, jobs: count, fleetGpus } = opts;
  if (!Number.isInteger(count) || count < 0) throw new RangeError(`jobs must be a non-negative integer, got ${count}`);
  if (!(fleetGpus >= 1)) throw new RangeError(`fleetGpus must be ≥ 1, got ${fleetGpus}`);
  const fabricGpus = opts.fabricGpus ?? 1024;
  const maxGang = opts.maxGangGpus ?? defaultMaxGang(fleetGpus);
  if (!Number.isInteger(maxGang) || maxGang < 1 || maxGang > MAX_GANG_GPUS) throw new RangeError(`maxGangGpus must be 1..${MAX_GANG_GPUS}, got ${maxGang}`);
  const meanGap = opts.meanInterarrivalS ?? syntheticWorkloadMeans(fleetGpus, maxGang).meanInterarrivalS;
  if (!(meanGap > 0)) throw new RangeError(`meanInterarrivalS must be > 0, got ${meanGap}`);

  // Cumulative class weights, in JOB_CLASSES order.
  const mix = opts.classMix ?? DEFAULT_CLASS_MIX;
  const classCum: number[] = [];
  let total = 0;
  for (const c of JOB_CLASSES) {
    const w = mix[c] ?? 0;
    if (!(w >= 0)) throw new RangeError(`classMix.${c} must be ≥ 0, got ${w}`);
    total += w;
    classCum.push(total);
  }
  if (!(total > 0)) throw new RangeError('classMix must have a positive weight');
  for (let i = 0; i < classCum.length; i++) classCum[i] = classCum[i]! / total;

  // Cumulative gang table with the cap applied.
  const gangSize = GANG_TABLE.map(([g]) => Math.min(g, maxGang));
  const gangCum: number[] = [];
  let acc = 0;
  for (const [, pct] of GANG_TABLE) gangCum.push((acc += pct / 100));

  const models = opts.models ?? [];
  const rnd = mulberry32(seed);
  const out: JobSpec[] = new Array<JobSpec>(count);
  let t = 0;
  for (let i = 0; i < count; i++) {
    t += -meanGap * Math.log(1 - rnd());

    const uc = rnd();
    let ci = 0;
    while (ci < classCum.length - 1 && uc >= classCum[ci]!) ci++;
    const jobClass = JOB_CLASSES[ci]!;

    const ug = rnd();
    let gi = 0;
    while (gi < gangCum.length - 1 && ug >= gangCum[gi]!) gi++;
    const gpus = gangSize[gi]!;

    // Box–Muller; 1 − u keeps the log argument in (0, 1].
    const z = Math.sqrt(-2 * Math.log(1 - rnd())) * Math.cos(2 * Math.PI * rnd());
    const raw = Math.round(Math.exp(DURATION_MU + DURATION_SIGMA * z));
    const durationS = raw < MIN_DURATION_S ? MIN_DURATION_S : raw > MAX_DURATION_S ? MAX_DURATION_S : raw;

    let placement: GangLevel = gpus <= 8 ? 'nvlink' : gpus <= fabricGpus ? 'fabric' : 'site';
    const ua = rnd();
    if (jobClass !== 'reserved' && ua < ANY_PLACEMENT_SHARE) placement = 'any';

    let gpuModels: string[] = [];
    if (models.length > 0) {
      const um = rnd();
      if (um < PINNED_MODEL_SHARE) gpuModels = [models[Math.floor((um / PINNED_MODEL_SHARE) * models.length)]!];
    }

    const price = jobClass === 'spot'
      ? SPOT_BID_MIN_MICROS + Math.floor(rnd() * ((SPOT_BID_MAX_MICROS - SPOT_BID_MIN_MICROS) / 1000 + 1)) * 1000
      : WORKLOAD_PRICE_MICROS[jobClass];

    const job: JobSpec = {
      id: `j${i}`, submitS: t, durationS, gpuModels, gpus, placement, jobClass, priceMicrosPerGpuHour: price,
    };
    if (jobClass === 'reserved') {
      const near = rnd() < NEAR_RESERVATION_SHARE;
      const lo = near ? HOUR_S : TWO_WEEKS_S;
      const hi = near ? TWO_WEEKS_S : MAX_RESERVATION_LEAD_S;
      job.startS = t + Math.round(lo * Math.exp(rnd() * Math.log(hi / lo)));
    }
    out[i] = job;
  }
  return out;
}

/** Standard normal CDF via erf (Abramowitz & Stegun 7.1.26, |error| < 1.5e-7). */
function normCdf(x: number): number {
  const y = x / Math.SQRT2;
  const sign = y < 0 ? -1 : 1;
  const ay = Math.abs(y);
  const k = 1 / (1 + 0.3275911 * ay);
  const poly = ((((1.061405429 * k - 1.453152027) * k + 1.421413741) * k - 0.284496736) * k + 0.254829592) * k;
  const erf = sign * (1 - poly * Math.exp(-ay * ay));
  return 0.5 * (1 + erf);
}
