/**
 * The double-entry rules: which journal entry each business fact posts. Pure functions over
 * values; the repository writes them, and the database checks again that every entry sums to
 * zero (a deferred constraint trigger, migration 0014) and that nothing posted changes.
 *
 * Sign: debits positive, credits negative (so an entry's lines sum to zero).
 * - Invoice (final): Dr receivables (total); each line credits its account (a negative line
 *   debits it): revenue by class and model for usage, deferred revenue for fees billed in
 *   advance, customer prepayments for prepayments and credits bought (and debited when applied),
 *   SLA credit expense for credits given.
 * - Payment: Dr cash, Cr receivables. Credit note: Dr credit notes (contra-revenue), Cr receivables.
 * - Recognition: Dr deferred revenue, Cr the schedule's revenue account, as the service period passes.
 * - Void: the invoice's entry reversed, with the revenue already recognised from it.
 * - Internal GPU time: Dr internal transfer cost, Cr internal transfer income, at the transfer price.
 */
import { ratableShare } from '../pricing/index.js';
import { ACCOUNTS, type RatedLine } from './billing-types.js';

export interface JournalLine {
  account: string;
  amountMicros: bigint;
  contractId: string | null;
}

export interface JournalDraft {
  kind: 'invoice' | 'payment' | 'credit_note' | 'recognition' | 'void' | 'internal_transfer';
  /** With `kind`, unique: the same fact never posts twice. */
  ref: string;
  tenantId: string | null;
  currency: string;
  effectiveAtMs: number;
  memo: string;
  lines: JournalLine[];
}

export const entrySum = (lines: readonly Pick<JournalLine, 'amountMicros'>[]): bigint => lines.reduce((a, l) => a + l.amountMicros, 0n);

function balanced(d: JournalDraft): JournalDraft {
  // Lines on the same account and contract are merged; zero lines dropped.
  const m = new Map<string, JournalLine>();
  for (const l of d.lines) {
    const k = `${l.account}\u0000${l.contractId ?? ''}`;
    const cur = m.get(k);
    if (cur) cur.amountMicros += l.amountMicros;
    else m.set(k, { ...l });
  }
  const lines = [...m.values()].filter((l) => l.amountMicros !== 0n);
  if (entrySum(lines) !== 0n) throw new Error(`journal entry ${d.kind}/${d.ref} does not balance: ${entrySum(lines)}`);
  return { ...d, lines };
}

export function invoiceEntry(inv: { id: string; tenantId: string; currency: string; atMs: number; number: string }, lines: readonly RatedLine[]): JournalDraft {
  const total = lines.reduce((a, l) => a + l.amountMicros, 0n);
  return balanced({
    kind: 'invoice', ref: inv.id, tenantId: inv.tenantId, currency: inv.currency, effectiveAtMs: inv.atMs, memo: `invoice ${inv.number}`,
    lines: [{ account: ACCOUNTS.receivables, amountMicros: total, contractId: null }, ...lines.map((l) => ({ account: l.account, amountMicros: -l.amountMicros, contractId: l.contractId }))],
  });
}

export function paymentEntry(p: { id: string; tenantId: string; currency: string; atMs: number; amountMicros: bigint; invoiceNumber: string }): JournalDraft {
  return balanced({
    kind: 'payment', ref: p.id, tenantId: p.tenantId, currency: p.currency, effectiveAtMs: p.atMs, memo: `payment on ${p.invoiceNumber}`,
    lines: [{ account: ACCOUNTS.cash, amountMicros: p.amountMicros, contractId: null }, { account: ACCOUNTS.receivables, amountMicros: -p.amountMicros, contractId: null }],
  });
}

/**
 * A credit note: credit notes (a contra-revenue debit) against receivables, and against the
 * customer's credit balance for `toBalanceMicros` of it (what the invoice no longer asked for: the
 * next invoice applies it).
 */
export function creditNoteEntry(c: { id: string; tenantId: string; currency: string; atMs: number; amountMicros: bigint; toBalanceMicros?: bigint; invoiceNumber: string }): JournalDraft {
  const toBalance = c.toBalanceMicros ?? 0n;
  return balanced({
    kind: 'credit_note', ref: c.id, tenantId: c.tenantId, currency: c.currency, effectiveAtMs: c.atMs, memo: `credit note on ${c.invoiceNumber}`,
    lines: [
      { account: ACCOUNTS.creditNotes, amountMicros: c.amountMicros, contractId: null },
      { account: ACCOUNTS.receivables, amountMicros: -(c.amountMicros - toBalance), contractId: null },
      ...(toBalance > 0n ? [{ account: ACCOUNTS.customerCreditBalance, amountMicros: -toBalance, contractId: null }] : []),
    ],
  });
}

export interface Schedule {
  id: string;
  tenantId: string;
  currency: string;
  contractId: string | null;
  account: string;
  amountMicros: bigint;
  recognizedMicros: bigint;
  serviceStartMs: number;
  serviceEndMs: number;
}

/** What of a schedule is recognised by `asOfMs`: ratably by time, rounded down to the micro (the end recognises the rest). */
export function recognizedBy(s: Pick<Schedule, 'amountMicros' | 'serviceStartMs' | 'serviceEndMs'>, asOfMs: number): bigint {
  if (asOfMs >= s.serviceEndMs) return s.amountMicros;
  if (asOfMs <= s.serviceStartMs) return 0n;
  return ratableShare(s.amountMicros, BigInt(asOfMs - s.serviceStartMs), BigInt(s.serviceEndMs - s.serviceStartMs));
}

export function recognitionEntry(s: Schedule, asOfMs: number): JournalDraft | null {
  const delta = recognizedBy(s, asOfMs) - s.recognizedMicros;
  if (delta === 0n) return null;
  return balanced({
    kind: 'recognition', ref: `${s.id}@${new Date(asOfMs).toISOString()}`, tenantId: s.tenantId, currency: s.currency, effectiveAtMs: Math.min(asOfMs, s.serviceEndMs),
    memo: `revenue recognised ratably (${s.account})`,
    lines: [{ account: ACCOUNTS.deferredRevenue, amountMicros: delta, contractId: s.contractId }, { account: s.account, amountMicros: -delta, contractId: s.contractId }],
  });
}

/** Reverses an invoice's entry and the revenue recognised from its schedules (a void). */
export function voidEntry(inv: { id: string; tenantId: string; currency: string; atMs: number; number: string }, posted: readonly JournalLine[], recognized: readonly Schedule[]): JournalDraft {
  const lines: JournalLine[] = posted.map((l) => ({ ...l, amountMicros: -l.amountMicros }));
  for (const s of recognized) {
    if (s.recognizedMicros === 0n) continue;
    lines.push({ account: s.account, amountMicros: s.recognizedMicros, contractId: s.contractId }, { account: ACCOUNTS.deferredRevenue, amountMicros: -s.recognizedMicros, contractId: s.contractId });
  }
  return balanced({ kind: 'void', ref: inv.id, tenantId: inv.tenantId, currency: inv.currency, effectiveAtMs: inv.atMs, memo: `void ${inv.number}`, lines });
}

export function internalTransferEntry(t: { ref: string; currency: string; atMs: number; amountMicros: bigint; memo: string }): JournalDraft {
  return balanced({
    kind: 'internal_transfer', ref: t.ref, tenantId: null, currency: t.currency, effectiveAtMs: t.atMs, memo: t.memo,
    lines: [{ account: ACCOUNTS.internalTransferCost, amountMicros: t.amountMicros, contractId: null }, { account: ACCOUNTS.internalTransferIncome, amountMicros: -t.amountMicros, contractId: null }],
  });
}

/** Balances per account from journal lines: debit positive. A trial balance sums to zero. */
export function trialBalance(lines: Iterable<Pick<JournalLine, 'account' | 'amountMicros'>>): Map<string, bigint> {
  const m = new Map<string, bigint>();
  for (const l of lines) m.set(l.account, (m.get(l.account) ?? 0n) + l.amountMicros);
  return m;
}
