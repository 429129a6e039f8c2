/**
 * A tenant's contracts as the rate card reads them (src/pricing `TenantTerms`): billing owns the
 * contracts, the rate card owns what they mean for a price. Pure.
 */
import type { TenantTerms } from '../pricing/index.js';
import type { Contract } from './billing-types.js';

const inForce = (c: Contract, atMs: number | null): boolean => atMs === null || (c.startMs <= atMs && (c.endMs === null || atMs < c.endMs));

/**
 * The terms of `contracts` (one tenant's, latest versions) in force at `atMs` (null: every one
 * given is in force — the caller filtered them for a period); reserved terms are listed whatever
 * their window (the rate card checks it covers the lease's).
 */
export function tenantTerms(contracts: readonly Contract[], atMs: number | null): TenantTerms {
  const currency = contracts[0]?.currency ?? 'USD';
  const rate = (kind: 'on-demand' | 'spot'): TenantTerms['onDemand'] => {
    const c = contracts.find((x) => x.kind === kind && inForce(x, atMs));
    return c && (c.kind === 'on-demand' || c.kind === 'spot')
      ? { contractId: c.id, discountBps: c.terms.discountBps, pricesMicrosPerGpuHour: c.terms.pricesMicrosPerGpuHour, rates: c.terms.rates }
      : null;
  };
  const reserved: TenantTerms['reserved'][number][] = [];
  const tokens: Record<string, TenantTerms['tokens'][string]> = {};
  for (const c of contracts) {
    if (c.kind === 'reserved' && c.endMs !== null) {
      reserved.push({ contractId: c.id, gpuModel: c.terms.gpuModel, gpuCount: c.terms.gpuCount, startMs: c.startMs, endMs: c.endMs, priceMicrosPerGpuHour: c.terms.priceMicrosPerGpuHour });
    } else if (c.kind === 'tokens' && inForce(c, atMs)) {
      for (const [model, p] of Object.entries(c.terms.prices)) tokens[model] ??= { contractId: c.id, inputMicrosPerMillion: p.inputMicrosPerMillion, outputMicrosPerMillion: p.outputMicrosPerMillion };
    }
  }
  return { currency, onDemand: rate('on-demand'), spot: rate('spot'), reserved, tokens };
}
