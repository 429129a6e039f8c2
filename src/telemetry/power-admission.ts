/**
 * Measured-draw admission (power oversubscription, as large operators run it): a hall or site
 * that measurably draws less than its leases' TDP may take more leases under the same cap. Off by
 * default (NEOCLOUD_POWER_ADMISSION=tdp): leased TDP then never exceeds a cap.
 *
 * With it on, a scope's credit is what its leases' TDP (facility watts) exceeds its measured
 * draw plus the safety margin: credit = max(0, leasedW − measuredW × (1 + margin)). Admission
 * counts held draw as TDP − credit, so what it admits keeps measured × (1 + margin) + new TDP
 * ≤ cap. No credit for a scope where an in-service node does not report (no data, no claim).
 */
export interface ScopeDraw {
  id: string;
  /** Facility watts of the leases held now (TDP × overhead × PUE). */
  leasedW: number;
  /** Measured facility watts (board power × overhead × PUE). */
  measuredW: number;
  /** Whether every in-service node of the scope reports telemetry. */
  complete: boolean;
}

export function powerCredits(scopes: readonly ScopeDraw[], margin: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of scopes) {
    if (!s.complete) continue;
    const credit = Math.floor(s.leasedW - s.measuredW * (1 + margin));
    if (credit > 0) out.set(s.id, credit);
  }
  return out;
}
