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
 * Missed heartbeats (no report for `missedBeats` intervals) are the fourth way down, judged by
 * time (missedSince), not by a report.
 */
import type { Heartbeat } from '../agent/agent-wire.js';

export const FATAL_XIDS: ReadonlySet<number> = new Set([48, 64, 74, 79, 95, 119, 120, 140]);

/** Why this heartbeat takes its node down, or null when it vouches for every GPU. `expected`: the node's GPU UUIDs in the fleet. */
export function healthOf(hb: Heartbeat, expected: readonly string[]): string | null {
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
  return null;
}

/** The time after which a node whose last heartbeat was at `lastSeenMs` counts as down (missed `beats` intervals). */
export const missedAfterMs = (lastSeenMs: number, intervalMs: number, beats: number): number => lastSeenMs + beats * intervalMs;
