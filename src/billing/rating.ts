/**
 * The rating core: a tenant's month, from contracts and summed usage to invoice lines. Pure: no
 * database, no clock. Integer arithmetic throughout; each line's exact amount (a fraction of
 * micros) is rounded once, half-even, to the currency's minor unit (money.ts `roundLine`).
 *
 * What the monthly invoice of period P carries (docs/decisions.md, "Billing (issue 11)"):
 * - usage of P in arrears: GPU time per class, model and price (the lease ids behind each line),
 *   tokens, storage, egress; late usage (events of an earlier, already invoiced period) on
 *   `late_usage` lines;
 * - reserved terms monthly in advance: the fee for P+1 (and for any earlier month of the term no
 *   final invoice billed, e.g. P for a term signed during P), deferred and recognised ratably; the
 *   prepaid share of each month's fee drawn from the prepayment (`prepayment_applied`);
 * - SLA credits for GPU time lost by non-preemptible leases (lost GPU-seconds × price × multiplier);
 * - a commitment's true-up when P's usage spend fell short of its monthly minimum;
 * - prepaid credits applied to what remains, oldest expiry first;
 * - a credit balance carried from earlier invoices applied to what still remains
 *   (`credit_balance_applied`); and when the lines sum below zero (SLA credits larger than the
 *   charges), the excess carried forward as a credit balance (`credit_balance`), so a final
 *   invoice is never negative (nothing could settle it: payments and credit notes are positive).
 * Reserved-class leases on a model the tenant reserved are covered by the term (rated at 0);
 * internal leases are never invoiced.
 */
import { MAX_MICROS, usagePrice } from '../pricing/index.js';
import { tenantTerms } from './rate-terms.js';
import { DomainError } from '../shared/errors.js';
import type { Contract, RateTerms, RatedLine, UsageSum, UsageType } from './billing-types.js';
import { ACCOUNTS, revenueAccount, SLA_LOST_TYPE, USAGE_UNITS } from './billing-types.js';
import { addMonths, BPS, divHalfEven, MICRO, monthEndMs, monthOf, monthStartMs, MS_PER_HOUR, overlapMs, roundLine, type Currency } from './money.js';

export interface RatingInput {
  tenantId: string;
  currency: Currency;
  /** `YYYY-MM` */
  period: string;
  /** Contracts in force (latest versions) of this tenant and currency. */
  contracts: readonly Contract[];
  usage: readonly UsageSum[];
  /** `${contractId}/${YYYY-MM}` reserved months already billed on a final invoice. */
  reservedBilled: ReadonlySet<string>;
  /** Per reserved contract: its prepayment not yet drawn down (micros). */
  prepaymentLeft: ReadonlyMap<string, bigint>;
  /** Per credits contract: credits not yet applied (micros). */
  creditsLeft: ReadonlyMap<string, bigint>;
  /** SLA credit multiplier in basis points (10,000 = the lost time at its price). */
  slaMultiplierBps: bigint;
  /** Credit balance carried from earlier final invoices, not yet drawn (micros, ≥ 0; absent: none). */
  creditBalance?: bigint;
}

const GPU_HOUR_DEN = MS_PER_HOUR / 1000n * MICRO; // quantity is micro-GPU-seconds; price per GPU-hour

/** Value of `gpuCount` GPUs at `price` per GPU-hour over `ms`, rounded at the line. */
export function gpuTimeValue(gpuCount: number, priceMicrosPerGpuHour: bigint, ms: number, currency: Currency): bigint {
  return roundLine(BigInt(gpuCount) * priceMicrosPerGpuHour * BigInt(ms), MS_PER_HOUR, currency);
}

function rateTermsOf(contracts: readonly Contract[], kind: 'on-demand' | 'spot'): { id: string; terms: RateTerms } | null {
  const c = contracts.find((x) => x.kind === kind);
  return c && c.kind === kind ? { id: c.id, terms: c.terms } : null;
}

/**
 * A line being summed. GPU time and its SLA credits are rounded per lease (`perLease`: each
 * lease's exact value, rounded on its own, then added), so a lease's invoices bill exactly what
 * its quote said (the rate card's `gpuTimeCharge`); other meters are rounded once per line.
 */
/**
 * The price of ingested usage (tokens, storage, egress) for a tenant: `priceMicros` per
 * `perMicroUnits` micro-units of the quantity, or null when the tenant's contracts give none (such
 * usage is refused at ingestion: it could never be billed). The rule is the rate card's
 * (src/pricing `usagePrice`); ingestion (with the contracts in force in the event's month) and
 * rateMonth both ask this, so what was accepted is what the close can price. GPU time is billed
 * at its lease's own price (the rate card's when booked), not here.
 */
export function usageUnitPrice(contracts: readonly Contract[], type: Exclude<UsageType, 'gpu.seconds'>, model: string | null): { priceMicros: bigint; perMicroUnits: bigint; contractId: string } | null {
  const p = usagePrice(tenantTerms(contracts, null), type, model);
  return p && { priceMicros: p.unitPriceMicros, perMicroUnits: p.perMicroUnits, contractId: p.contractId };
}

interface Acc { num: bigint; den: bigint; quantity: bigint; unitPrice: bigint; leaseIds: Set<string>; perLease: Map<string, bigint> | null; base: Omit<RatedLine, 'amountMicros' | 'quantity' | 'leaseIds' | 'unitPriceMicros'> }

export function rateMonth(input: RatingInput): RatedLine[] {
  const p0 = monthStartMs(input.period);
  const p1 = monthEndMs(input.period);
  const cur = input.currency;
  const groups = new Map<string, Acc>();
  const add = (key: string, make: () => Acc['base'], unitPrice: bigint, num: bigint, den: bigint, quantity: bigint, leaseId: string | null, perLease = false): void => {
    let g = groups.get(key);
    if (!g) groups.set(key, g = { num: 0n, den, quantity: 0n, unitPrice, leaseIds: new Set(), perLease: perLease ? new Map() : null, base: make() });
    g.num += num;
    g.quantity += quantity;
    if (leaseId) g.leaseIds.add(leaseId);
    if (g.perLease) g.perLease.set(leaseId ?? '', (g.perLease.get(leaseId ?? '') ?? 0n) + num);
  };

  for (const u of input.usage) {
    if (u.leaseClass === 'internal') continue; // the owner's own work: valued at a transfer price, never invoiced
    const kind = u.late ? 'late_usage' as const : 'usage' as const;
    // Late usage is grouped by the month its events are of: the line's service period is that
    // month, and its quantity is bounded by that month's ingestion limit (billing-types.ts).
    const lateMonth = u.late ? (u.lateMonth ?? addMonths(input.period, -1)) : null;
    const sStart = lateMonth === null ? p0 : monthStartMs(lateMonth);
    const sEnd = lateMonth === null ? p1 : monthEndMs(lateMonth);
    const lateNote = lateMonth === null ? '' : ` (late usage of ${lateMonth}, an invoiced period)`;
    const gk = lateMonth === null ? kind : `${kind}/${lateMonth}`;
    if (u.type === 'gpu.seconds' || u.type === SLA_LOST_TYPE) {
      const model = u.model ?? 'unknown';
      const cls = u.leaseClass ?? 'on-demand';
      if (u.priceMicros === null) throw new DomainError('conflict', `usage: GPU time of lease ${u.leaseId} has no price`, { field: 'usage' });
      // The lease's own price: the rate card's, fixed when it was booked (src/pricing). A reserved
      // lease a term covers was booked at 0; the term's fee is its own line below.
      const price = u.priceMicros;
      if (u.type === SLA_LOST_TYPE) {
        // lost micro-GPU-seconds × price per GPU-hour × multiplier: negative, an expense of ours.
        add(`sla/${cls}/${model}/${price}`, () => ({
          kind: 'sla_credit', description: `SLA credit: ${model} ${cls} GPU time lost to failures`, contractId: null, meter: SLA_LOST_TYPE, model, unit: 'GPU-s',
          account: ACCOUNTS.slaCreditExpense, serviceStartMs: p0, serviceEndMs: p1, deferredTo: null,
        }), price, -(u.quantity * price * input.slaMultiplierBps), GPU_HOUR_DEN * BPS, u.quantity, u.leaseId, true);
        continue;
      }
      if (cls === 'reserved' && price === 0n) {
        add(`${gk}/reserved-covered/${model}`, () => ({
          kind, description: `${model} reserved GPU time, covered by the reserved term${lateNote}`, contractId: null, meter: 'gpu.seconds', model, unit: 'GPU-s',
          account: revenueAccount('reserved', model), serviceStartMs: sStart, serviceEndMs: sEnd, deferredTo: null,
        }), 0n, 0n, GPU_HOUR_DEN, u.quantity, u.leaseId);
        continue;
      }
      add(`${gk}/${cls}/${model}/${price}`, () => ({
        kind, description: `${model} ${cls} GPU time, per second${lateNote}`, contractId: null, meter: 'gpu.seconds', model, unit: 'GPU-s',
        account: revenueAccount(cls, model), serviceStartMs: sStart, serviceEndMs: sEnd, deferredTo: null,
      }), price, u.quantity * price, GPU_HOUR_DEN, u.quantity, u.leaseId, true);
      continue;
    }
    // tokens, storage.gb_hours, egress.gb: micro-units × price per `perMicroUnits`.
    const type = u.type;
    const model = type === 'tokens.input' || type === 'tokens.output' ? (u.model ?? 'unknown') : null;
    const price = usageUnitPrice(input.contracts, type, model);
    if (!price) {
      throw new DomainError('conflict', model === null
        ? `contracts: no ${type} rate in tenant ${input.tenantId}'s on-demand contract`
        : `contracts: no token price for model ${model} (tenant ${input.tenantId})`, { field: 'contracts' });
    }
    const description = type === 'tokens.input' || type === 'tokens.output'
      ? `${model} ${type === 'tokens.input' ? 'input' : 'output'} tokens${lateNote}`
      : `${type === 'egress.gb' ? 'Egress' : 'Storage'} (${USAGE_UNITS[type]})${lateNote}`;
    const account = model !== null ? revenueAccount('tokens', model) : revenueAccount(type === 'egress.gb' ? 'egress' : 'storage');
    add(`${gk}/${type}${model === null ? '' : `/${model}`}`, () => ({
      kind, description, contractId: price.contractId, meter: type, model, unit: USAGE_UNITS[type],
      account, serviceStartMs: sStart, serviceEndMs: sEnd, deferredTo: null,
    }), price.priceMicros, u.quantity * price.priceMicros, price.perMicroUnits, u.quantity, null);
  }

  const lines: RatedLine[] = [];
  for (const g of groups.values()) {
    const amountMicros = g.perLease ? [...g.perLease.values()].reduce((a, num) => a + roundLine(num, g.den, cur), 0n) : roundLine(g.num, g.den, cur);
    lines.push({ ...g.base, quantity: g.quantity, unitPriceMicros: g.unitPrice, amountMicros, leaseIds: [...g.leaseIds].sort() });
  }
  // Stable order: kind, then description.
  const order = (l: RatedLine): string => `${['usage', 'late_usage', 'sla_credit'].indexOf(l.kind)}|${l.description}`;
  lines.sort((a, b) => (order(a) < order(b) ? -1 : order(a) > order(b) ? 1 : 0));

  // Reserved terms, monthly in advance: the fee of P+1, and of every earlier month of the term no
  // final invoice billed yet (P itself when the term began during P; a month whose close was skipped).
  for (const c of input.contracts) {
    if (c.kind !== 'reserved' || c.endMs === null) continue;
    let left = input.prepaymentLeft.get(c.id) ?? 0n;
    const months: string[] = [];
    for (let m = monthOf(c.startMs); m <= addMonths(input.period, 1) && monthStartMs(m) < c.endMs; m = addMonths(m, 1)) months.push(m);
    for (const m of months) {
      if (input.reservedBilled.has(`${c.id}/${m}`)) continue;
      const s = Math.max(c.startMs, monthStartMs(m));
      const e = Math.min(c.endMs, monthEndMs(m));
      if (e <= s) continue;
      const t = c.terms;
      const fee = gpuTimeValue(t.gpuCount, t.priceMicrosPerGpuHour, e - s, cur);
      lines.push({
        kind: 'reserved', description: `${t.gpuCount} × ${t.gpuModel} reserved, ${m} (take-or-pay, billed in advance)`, contractId: c.id, meter: null, model: t.gpuModel,
        quantity: BigInt(t.gpuCount) * BigInt(e - s) * 1000n, unit: 'GPU-s', unitPriceMicros: t.priceMicrosPerGpuHour, amountMicros: fee,
        account: ACCOUNTS.deferredRevenue, serviceStartMs: s, serviceEndMs: e, leaseIds: [], deferredTo: revenueAccount('reserved', t.gpuModel),
      });
      if (t.prepaymentBps > 0 && left > 0n) {
        // The prepaid share of this month; the term's last month draws whatever remains, so the prepayment is used up exactly.
        const share = e >= c.endMs ? left : roundLine(fee * BigInt(t.prepaymentBps), BPS, cur);
        const applied = share > left ? left : share;
        left -= applied;
        lines.push({
          kind: 'prepayment_applied', description: `Prepayment applied to ${m} (${t.prepaymentBps / 100}% of the fee)`, contractId: c.id, meter: null, model: t.gpuModel,
          quantity: 0n, unit: '', unitPriceMicros: 0n, amountMicros: -applied, account: ACCOUNTS.customerPrepayments, serviceStartMs: s, serviceEndMs: e, leaseIds: [], deferredTo: null,
        });
      }
    }
  }

  // Commitment true-up: usage spend of P (not late usage, not credits) against the pro-rated monthly minimum.
  const spend = lines.filter((l) => l.kind === 'usage').reduce((a, l) => a + l.amountMicros, 0n);
  for (const c of input.contracts) {
    if (c.kind !== 'commitment') continue;
    const ms = overlapMs(c.startMs, c.endMs ?? Infinity, p0, p1);
    if (ms <= 0) continue;
    const minimum = roundLine(c.terms.minimumMicrosPerMonth * BigInt(ms), BigInt(p1 - p0), cur);
    if (spend < minimum) {
      lines.push({
        kind: 'commitment_true_up', description: `Commitment true-up: minimum ${minimum} µ, usage ${spend} µ`, contractId: c.id, meter: null, model: null,
        quantity: 0n, unit: '', unitPriceMicros: 0n, amountMicros: minimum - spend, account: revenueAccount('commitment'), serviceStartMs: p0, serviceEndMs: p1, leaseIds: [], deferredTo: null,
      });
    }
  }

  // Prepaid credits: applied to what the invoice still asks for, soonest expiry first.
  let due = lines.reduce((a, l) => a + l.amountMicros, 0n);
  const credits = input.contracts.filter((c): c is Contract & { kind: 'credits' } => c.kind === 'credits')
    .filter((c) => c.terms.expiresAtMs > p0 && c.startMs < p1)
    .sort((a, b) => a.terms.expiresAtMs - b.terms.expiresAtMs || (a.id < b.id ? -1 : 1));
  for (const c of credits) {
    if (due <= 0n) break;
    const left = input.creditsLeft.get(c.id) ?? 0n;
    if (left <= 0n) continue;
    const applied = left < due ? left : due;
    due -= applied;
    lines.push({
      kind: 'credits_applied', description: `Prepaid credits applied (expire ${new Date(c.terms.expiresAtMs).toISOString().slice(0, 10)})`, contractId: c.id, meter: null, model: null,
      quantity: 0n, unit: '', unitPriceMicros: 0n, amountMicros: -applied, account: ACCOUNTS.customerPrepayments, serviceStartMs: p0, serviceEndMs: p1, leaseIds: [], deferredTo: null,
    });
  }

  // A credit balance carried from earlier invoices: drawn after prepaid credits (they expire; it does not).
  const balance = input.creditBalance ?? 0n;
  if (due > 0n && balance > 0n) {
    const applied = balance < due ? balance : due;
    due -= applied;
    lines.push({
      kind: 'credit_balance_applied', description: 'Credit balance from earlier invoices applied', contractId: null, meter: null, model: null,
      quantity: 0n, unit: '', unitPriceMicros: 0n, amountMicros: -applied, account: ACCOUNTS.customerCreditBalance, serviceStartMs: p0, serviceEndMs: p1, leaseIds: [], deferredTo: null,
    });
  }
  // Credits beyond the charges: carried forward as a balance (a liability), the invoice asks for 0.
  if (due < 0n) {
    lines.push({
      kind: 'credit_balance', description: 'Credit beyond this month\'s charges, carried to your next invoice', contractId: null, meter: null, model: null,
      quantity: 0n, unit: '', unitPriceMicros: 0n, amountMicros: -due, account: ACCOUNTS.customerCreditBalance, serviceStartMs: p0, serviceEndMs: p1, leaseIds: [], deferredTo: null,
    });
  }
  return lines;
}

/**
 * Refuses, as a conflict naming the tenant, a rated month the books cannot hold (a line's
 * quantity or amount, or the invoice's total, past a bigint column): that tenant's draft or close
 * fails by name, never the others' (the rate card bounds prices, ingestion bounds usage; this is
 * the last guard, for a tenant with many leases at the highest prices).
 */
export function assertBookable(tenantId: string, lines: readonly RatedLine[]): void {
  const over = (v: bigint): boolean => v > MAX_MICROS || v < -MAX_MICROS;
  let total = 0n;
  for (const l of lines) {
    if (over(l.amountMicros) || over(l.quantity)) throw new DomainError('conflict', `invoice: tenant ${tenantId}'s line "${l.description}" is more than the books hold (${l.amountMicros} µ, quantity ${l.quantity})`, { field: 'tenantId' });
    total += l.amountMicros;
  }
  if (over(total)) throw new DomainError('conflict', `invoice: tenant ${tenantId}'s month comes to ${total} µ, more than the books hold (${MAX_MICROS} µ)`, { field: 'tenantId' });
}

/** The sum of an invoice's lines: what the tenant owes. */
export const invoiceTotal = (lines: readonly Pick<RatedLine, 'amountMicros'>[]): bigint => lines.reduce((a, l) => a + l.amountMicros, 0n);
