/**
 * The health rule: what in a heartbeat takes a node down. Pure; the service applies the verdict
 * as a node condition (FleetService.setConditions), which takes the failure path.
 *
 * - discovery failed (nvidia-smi missing, hung, exiting non-zero): the node cannot vouch for its GPUs;
 * - a GPU of the node missing from the report (fallen off the bus);
 * - uncorrectable ECC errors (volatile count > 0): data on that GPU cannot be trusted;
 * - a fatal XID (NVIDIA's XID catalog, "XID Errors" in the GPU deployment guide: 48 double-bit
 *   ECC, 64 row-remap failure, 74 NVLink, 79 fallen off the bus, 95 uncontained ECC, 119/120 GSP
 *   errors, 140 unrecovered ECC);
 * - the driver recommending a recovery action (`gpu_recovery_action` other than None: GPU Reset,
 *   Node Reboot, Drain P2P, Drain and Reset).
 *
 * - an impossible reading on a GPU (power −1 W or 5,200 W on a 700 W board, memory.used
 *   4294967295 MiB, 101 % utilisation, −60 °C, an ECC count of 2^64 − 1): the GPU cannot vouch
 *   for itself either. The field is refused (kept as null: no 5,200 W in the hall's measured
 *   power), the GPU is marked faulty with the reason, and the node is down with the reason
 *   prefixed `impossible reading: ` (READING_FAULT). Such a verdict is lifted by the readings
 *   themselves (clean for a window: TelemetryOptions.readingRecoveryMs), unlike the hardware
 *   faults above, which stay until the operator (or the configured clean window) says.
 *
 * Missed heartbeats (no report for `missedBeats` intervals) are the last way down, judged by
 * time by the cell's health leader (TelemetryService.tick), not by a report.
 */
import type { GpuSample, Heartbeat } from '../agent/agent-wire.js';
import { GPU_CATALOG, type GpuModelId } from '../fleet/index.js';

/** The prefix of a node's health reason when it is down for impossible readings (isReadingFault). */
export const READING_FAULT = 'impossible reading: ';

/** Whether a recorded health reason is an impossible-reading verdict (lifted by sane readings). */
export const isReadingFault = (reason: string | null): boolean => reason !== null && reason.startsWith(READING_FAULT);

/**
 * What a sane reading of one GPU model can be. Bounds are physical, not operational: a value
 * outside them is a broken sensor or a sentinel leaking through (nvidia-smi prints 4294967295 =
 * 2^32 − 1 or 18446744073709551615 = 2^64 − 1 for a counter it could not read), never a hot GPU.
 */
export interface ReadingBounds {
  /** power.draw and power.limit, W: 2 × the board's TDP (the catalog's `tdpW`); an averaged reading never doubles it. */
  maxPowerW: number;
  /** memory.total, MiB: 2 × the catalog's memory (nvidia-smi reports a little under it). */
  maxMemoryMiB: number;
}

/** Temperatures a working GPU sensor can report, °C: below −40 (the coldest rated storage) or above 150 (silicon shuts down near 100) is a broken sensor. */
export const MIN_TEMPERATURE_C = -40;
export const MAX_TEMPERATURE_C = 150;
/** Uncorrectable ECC errors since driver load above this are a broken counter, not a count (a GPU is retired long before). */
export const MAX_ECC_UNCORRECTED = 1_000_000;
/** XID codes are small positive integers (NVIDIA's catalog ends below 200); this leaves room for new ones. */
export const MAX_XID = 1_000_000;

export function readingBounds(model: GpuModelId): ReadingBounds {
  const spec = GPU_CATALOG[model];
  return { maxPowerW: 2 * spec.tdpW, maxMemoryMiB: 2 * spec.memoryGb * 1024 };
}

const outside = (name: string, v: number, unit: string, lo: number, hi: number): string => `${name} ${v}${unit} is outside ${lo}–${hi}${unit}`;

/**
 * Checks one GPU sample's readings against `b`; each impossible field is set to null in `g` (the
 * field is refused, the rest of the sample kept) and named in the answer: null when every reading
 * is possible, else e.g. `GPU 3 (GPU-…): power.draw 5200 W is outside 0–1400 W`. Allocates
 * nothing for a sane sample (this runs for every GPU of every heartbeat).
 */
export function readingFaults(g: GpuSample, b: ReadingBounds): string | null {
  let faults: string[] | null = null;
  const p = g.powerW;
  if (p !== null && (p < 0 || p > b.maxPowerW)) { (faults ??= []).push(outside('power.draw', p, ' W', 0, b.maxPowerW)); g.powerW = null; }
  const pl = g.powerLimitW;
  if (pl !== null && (pl < 0 || pl > b.maxPowerW)) { (faults ??= []).push(outside('power.limit', pl, ' W', 0, b.maxPowerW)); g.powerLimitW = null; }
  const u = g.utilizationPct;
  if (u !== null && (u < 0 || u > 100)) { (faults ??= []).push(outside('utilization.gpu', u, ' %', 0, 100)); g.utilizationPct = null; }
  const mt = g.memoryTotalMiB;
  if (mt !== null && (mt < 0 || mt > b.maxMemoryMiB)) { (faults ??= []).push(outside('memory.total', mt, ' MiB', 0, b.maxMemoryMiB)); g.memoryTotalMiB = null; }
  const mu = g.memoryUsedMiB;
  const muMax = g.memoryTotalMiB ?? b.maxMemoryMiB; // used ≤ total when total is known and sane
  if (mu !== null && (mu < 0 || mu > muMax)) { (faults ??= []).push(outside('memory.used', mu, ' MiB', 0, muMax)); g.memoryUsedMiB = null; }
  const t = g.temperatureC;
  if (t !== null && (t < MIN_TEMPERATURE_C || t > MAX_TEMPERATURE_C)) { (faults ??= []).push(outside('temperature.gpu', t, ' °C', MIN_TEMPERATURE_C, MAX_TEMPERATURE_C)); g.temperatureC = null; }
  const e = g.eccUncorrected;
  if (e !== null && (e < 0 || e > MAX_ECC_UNCORRECTED || !Number.isInteger(e))) {
    (faults ??= []).push(`ecc.errors.uncorrected.volatile.total ${e} is not a count from 0 to ${MAX_ECC_UNCORRECTED}`);
    g.eccUncorrected = null;
  }
  for (const x of g.xids) {
    if (x < 0 || x > MAX_XID) {
      (faults ??= []).push(`xid ${x} is not an XID code (0–${MAX_XID})`);
      g.xids = g.xids.filter((y) => y >= 0 && y <= MAX_XID);
      break;
    }
  }
  return faults === null ? null : `GPU ${g.index} (${g.uuid}): ${faults.join('; ')}`;
}

export const FATAL_XIDS: ReadonlySet<number> = new Set([48, 64, 74, 79, 95, 119, 120, 140]);

/**
 * Why this heartbeat takes its node down, or null when it vouches for every GPU. `expected`: the
 * node's GPU UUIDs in the fleet; `faults`: readingFaults of each sample (same order), checked last
 * so that a hardware fault, which only the operator lifts, is the reason recorded when both occur.
 */
export function healthOf(hb: Heartbeat, expected: readonly string[], faults: readonly (string | null)[] = []): string | null {
  if (hb.discoveryError !== null) return `GPU discovery failed: ${hb.discoveryError.slice(0, 200)}`;
  // At most 16 each: a nested scan allocates nothing (this runs for every heartbeat).
  let missing: string[] | null = null;
  for (const u of expected) {
    let found = false;
    for (const g of hb.gpus) if (g.uuid === u) { found = true; break; }
    if (!found) (missing ??= []).push(u);
  }
  if (missing) return `GPU missing: ${missing.slice(0, 4).join(', ')}${missing.length > 4 ? ` and ${missing.length - 4} more` : ''}`;
  for (const g of hb.gpus) {
    if (g.eccUncorrected !== null && g.eccUncorrected > 0) return `uncorrectable ECC errors (${g.eccUncorrected}) on GPU ${g.uuid}`;
    for (const x of g.xids) if (FATAL_XIDS.has(x)) return `fatal XID ${x} on GPU ${g.uuid}`;
    if (g.recoveryAction !== null && g.recoveryAction !== 'None') return `driver asks for "${g.recoveryAction}" on GPU ${g.uuid}`;
  }
  let first: string | null = null;
  let more = 0;
  for (const f of faults) {
    if (f === null) continue;
    if (first === null) first = f;
    else more++;
  }
  if (first !== null) return `${READING_FAULT}${first}${more > 0 ? ` (and ${more} more GPU${more > 1 ? 's' : ''})` : ''}`;
  return null;
}

/** The time after which a node whose last heartbeat was at `lastSeenMs` counts as down (missed `beats` intervals). */
export const missedAfterMs = (lastSeenMs: number, intervalMs: number, beats: number): number => lastSeenMs + beats * intervalMs;
