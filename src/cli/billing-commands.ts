/**
 * `neocloud contracts | usage | invoices | ledger | backlog`: billing through the API. Amounts
 * arrive as decimal strings of micros and are shown in the currency (exact, bigint).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { formatMoney } from '../shared/money-format.js';
import type { ApiClient } from './client.js';
import { table } from './table.js';

type Print = (data: unknown, human: () => string) => void;
type J = Record<string, any>;
const q = (o: Record<string, string | undefined>): string => {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(o)) if (v !== undefined) p.set(k, v);
  const s = p.toString();
  return s ? `?${s}` : '';
};
/** A JSON argument, or `@file` to read it from a file (`@-`: standard input). */
const jsonArg = (v: string): unknown => JSON.parse(v.startsWith('@') ? readFileSync(v === '@-' ? 0 : v.slice(1), 'utf8') : v);

export function registerBillingCommands(program: Command, client: () => ApiClient, print: Print): void {
  const contracts = program.command('contracts').description('contracts per tenant: reserved terms, on-demand and spot rates, commitments, credits, token prices');
  const cRow = (c: J): string[] => [c.id, `v${c.version}`, c.tenantId, c.kind, c.currency, c.start, c.end ?? '-', JSON.stringify(c.terms)];
  const C_HEAD = ['id', 'version', 'tenant', 'kind', 'currency', 'start', 'end', 'terms'];
  contracts.command('list').option('--tenant <id>', 'operator: one tenant').action(async (o: { tenant?: string }) => {
    const r = await client().all<{ contracts: J[] }>(`/v1/contracts${q({ tenantId: o.tenant })}`, 'contracts');
    print(r, () => (r.contracts.length ? table(C_HEAD, r.contracts.map(cRow)) : 'no contracts'));
  });
  contracts.command('show <id>').action(async (id: string) => {
    const c = await client().request<J>('GET', `/v1/contracts/${encodeURIComponent(id)}`);
    print(c, () => table(C_HEAD, (c['versions'] as J[]).map(cRow)));
  });
  contracts.command('create')
    .description('operator: sign a contract; a reserved term with a prepayment, or credits, are invoiced at once')
    .requiredOption('--tenant <id>').requiredOption('--kind <kind>', 'reserved | on-demand | spot | commitment | credits | tokens')
    .requiredOption('--start <time>').option('--end <time>').option('--currency <c>', 'USD | JPY')
    .requiredOption('--terms <json>', 'the terms as JSON, or @file, e.g. \'{"gpuModel":"H100-SXM","gpuCount":8,"priceMicrosPerGpuHour":"2000000","prepaymentBps":2500}\'')
    .action(async (o: { tenant: string; kind: string; start: string; end?: string; currency?: string; terms: string }) => {
      const body: J = { tenantId: o.tenant, kind: o.kind, start: o.start, terms: jsonArg(o.terms) };
      if (o.end) body['end'] = o.end;
      if (o.currency) body['currency'] = o.currency;
      const c = await client().request<J>('POST', '/v1/contracts', body);
      print(c, () => `${table(C_HEAD, [cRow(c)])}${c['prepaymentInvoiceId'] ? `\ninvoiced at signing: ${c['prepaymentInvoiceId']}` : ''}`);
    });

  const usage = program.command('usage').description('usage events: send a batch, show a month');
  usage.command('send <file>')
    .description('send usage events (CloudEvents JSON: an array, or {"events": [...]}; "-" reads standard input). An event without `subject` is the caller\'s tenant (or --tenant); one without `time` is stamped now')
    .option('--tenant <id>', 'operator: the tenant of events that name none')
    .action(async (file: string, o: { tenant?: string }) => {
      const data = JSON.parse(readFileSync(file === '-' ? 0 : file, 'utf8')) as unknown;
      const given = (Array.isArray(data) ? data : (data as J)['events']) as unknown;
      if (!Array.isArray(given)) throw new Error(`${file}: expected an array of events or {"events": [...]}`);
      let subject = o.tenant;
      if (subject === undefined && given.some((e: J) => e['subject'] === undefined)) {
        const me = await client().request<{ tenantId: string | null }>('GET', '/v1/whoami');
        if (!me.tenantId) throw new Error('events without a subject need a tenant key, or --tenant <id>');
        subject = me.tenantId;
      }
      const now = new Date().toISOString();
      const events = given.map((e: J) => ({ ...e, subject: e['subject'] ?? subject, time: e['time'] ?? now }));
      const r = await client().request<{ accepted: number; duplicates: number }>('POST', '/v1/usage', { events });
      print(r, () => `accepted ${r.accepted}, duplicates ${r.duplicates}`);
    });
  usage.command('show').option('--period <YYYY-MM>').option('--tenant <id>').action(async (o: { period?: string; tenant?: string }) => {
    const r = await client().request<{ period: string; usage: J[] }>('GET', `/v1/usage${q({ period: o.period, tenantId: o.tenant })}`);
    print(r, () => `usage in ${r.period}\n${table(['tenant', 'type', 'model', 'events', 'quantity', 'unit'],
      r.usage.map((u) => [u.tenantId, u.type, u.model ?? '-', u.events, (Number(BigInt(u.quantity) / 1000n) / 1000).toLocaleString('en-US'), u.unit]))}`);
  });

  const invoices = program.command('invoices').description('invoices: list, show, print, close a month, payments, void, credit notes');
  const money = (m: string, cur: string): string => formatMoney(m, cur);
  const iRow = (i: J): string[] => [i.id, i.number ?? '-', i.tenantId, i.kind, i.period, i.status, money(i.totalMicros, i.currency), money(i.paidMicros, i.currency)];
  const I_HEAD = ['id', 'number', 'tenant', 'kind', 'period', 'status', 'total', 'paid'];
  invoices.command('list').option('--tenant <id>').option('--period <YYYY-MM>').option('--status <s>', 'draft | final | paid | void')
    .action(async (o: { tenant?: string; period?: string; status?: string }) => {
      const r = await client().all<{ invoices: J[] }>(`/v1/invoices${q({ tenantId: o.tenant, period: o.period, status: o.status })}`, 'invoices');
      print(r, () => (r.invoices.length ? table(I_HEAD, r.invoices.map(iRow)) : 'no invoices'));
    });
  // Quantities and their units as the server computed them for display (line-display.ts): GPU-hours beside a price per GPU-hour.
  const showInvoice = (i: J): string => `${table(I_HEAD, [iRow(i)])}\n` +
    `bill to: ${i['customer']?.name ?? i['tenantId']} · issued ${i['issuedAt']?.slice(0, 10) ?? '(draft, not issued)'} · due ${i['dueAt']?.slice(0, 10) ?? '-'} · net ${i['paymentTermsDays'] ?? '-'} days\n\n` +
    `${table(['#', 'kind', 'description', 'quantity', 'unit price', 'amount'],
      (i['lines'] as J[]).map((l) => [l.lineNo, l.kind, l.description, l.displayQuantity === null || l.displayQuantity === undefined ? '' : `${l.displayQuantity} ${l.displayUnit}`,
        l.priceUnit ? `${money(l.unitPriceMicros, i['currency'])} ${l.priceUnit}` : '', money(l.amountMicros, i['currency'])]))}\n` +
    `due: ${money(i['dueMicros'], i['currency'])}`;
  invoices.command('show <id>').action(async (id: string) => {
    const i = await client().request<J>('GET', `/v1/invoices/${encodeURIComponent(id)}`);
    print(i, () => showInvoice(i));
  });
  invoices.command('html <id>').description('the printable invoice').option('-o, --out <file>', 'write to a file (default: standard output)').action(async (id: string, o: { out?: string }) => {
    const html = await client().text(`/v1/invoices/${encodeURIComponent(id)}/html`);
    if (o.out) writeFileSync(o.out, html);
    else process.stdout.write(html);
  });
  invoices.command('close <period>').description('operator: finalise every tenant\'s invoice for a month (YYYY-MM) after it ended; exits 1 if any tenant (or step) failed')
    .action(async (period: string) => {
      const r = await client().request<{ period: string; invoices: J[]; failed?: J[] }>('POST', '/v1/invoices/close', { period });
      const failed = r.failed ?? [];
      print(r, () => `closed ${r.period}: ${r.invoices.length} invoices\n${r.invoices.length ? table(I_HEAD, r.invoices.map(iRow)) : ''}` +
        (failed.length ? `\nNOT closed (${failed.length}; fix and run the close again):\n${table(['tenant', 'step', 'reason'], failed.map((f) => [f.tenantId ?? '-', f.step, f.detail]))}` : ''));
      // The others were closed; the exit status tells a script that this month is not done.
      if (failed.length) process.exitCode = 1;
    });
  invoices.command('refresh').description('operator: bring draft invoices up to date').option('--period <YYYY-MM>').option('--tenant <id>').action(async (o: { period?: string; tenant?: string }) => {
    const body: J = {};
    if (o.period) body['period'] = o.period;
    if (o.tenant) body['tenantId'] = o.tenant;
    const r = await client().request<J>('POST', '/v1/invoices/refresh', body);
    print(r, () => `${r['drafts']} drafts for ${r['period']}`);
  });
  invoices.command('pay <id> <amountMicros>').description('operator: record a payment (integer micros)').option('--reference <text>').action(async (id: string, amount: string, o: { reference?: string }) => {
    const i = await client().request<J>('POST', `/v1/invoices/${encodeURIComponent(id)}/payments`, { amountMicros: amount, ...(o.reference ? { reference: o.reference } : {}) });
    print(i, () => showInvoice(i));
  });
  invoices.command('void <id>').description('operator: void an unpaid final invoice').action(async (id: string) => {
    const i = await client().request<J>('POST', `/v1/invoices/${encodeURIComponent(id)}/void`, {});
    print(i, () => showInvoice(i));
  });
  invoices.command('credit <id> <amountMicros>').description('operator: issue a credit note').requiredOption('--reason <text>').action(async (id: string, amount: string, o: { reason: string }) => {
    const i = await client().request<J>('POST', `/v1/invoices/${encodeURIComponent(id)}/credit-notes`, { amountMicros: amount, reason: o.reason });
    print(i, () => showInvoice(i));
  });

  // A tenant's billing profile: who its invoices are addressed to (billing_profiles, migration 0019).
  const tenants = program.commands.find((c) => c.name() === 'tenants') ?? program.command('tenants');
  const profileText = (b: J): string => [
    `${b['tenantName']} (${b['tenantId']})`, `legal name: ${b['legalName'] ?? '-'}`, ...((b['addressLines'] as string[]).map((l) => `  ${l}`)),
    `  ${[b['postalCode'], b['city']].filter(Boolean).join(' ') || '-'}`, `  ${b['country'] ?? '-'}`, `tax id: ${b['taxId'] ?? '-'}`, `terms: net ${b['paymentTermsDays']} days`,
  ].join('\n');
  tenants.command('billing <tenantId>').description('a tenant\'s billing profile: the addressee of its invoices and its payment terms').action(async (id: string) => {
    const b = await client().request<J>('GET', `/v1/tenants/${encodeURIComponent(id)}/billing-profile`);
    print(b, () => profileText(b));
  });
  const clearable = (v: string): string | null => (v === '' ? null : v);
  tenants.command('set-billing <tenantId>')
    .description('operator: set a tenant\'s billing profile (only the options given change; an empty value clears one)')
    .option('--legal-name <name>', 'the customer\'s legal name as invoiced (default: the tenant\'s name)')
    .option('--address <line>', 'a street address line (repeat for up to 3; --address "" clears them)', (v: string, acc: string[] | undefined) => [...(acc ?? []), v])
    .option('--city <city>').option('--postal-code <code>').option('--country <CC>', 'ISO 3166-1 alpha-2, e.g. US, JP, DE').option('--tax-id <id>')
    .option('--terms-days <n>', 'payment terms: days from issue to due (default: the control plane\'s, net 30)')
    .action(async (id: string, o: { legalName?: string; address?: string[]; city?: string; postalCode?: string; country?: string; taxId?: string; termsDays?: string }) => {
      const body: J = {};
      if (o.legalName !== undefined) body['legalName'] = clearable(o.legalName);
      if (o.address !== undefined) body['addressLines'] = o.address.filter((l) => l !== '');
      if (o.city !== undefined) body['city'] = clearable(o.city);
      if (o.postalCode !== undefined) body['postalCode'] = clearable(o.postalCode);
      if (o.country !== undefined) body['country'] = clearable(o.country);
      if (o.taxId !== undefined) body['taxId'] = clearable(o.taxId);
      if (o.termsDays !== undefined) body['paymentTermsDays'] = o.termsDays === '' ? null : /^\d+$/.test(o.termsDays) ? Number(o.termsDays) : o.termsDays;
      const b = await client().request<J>('PATCH', `/v1/tenants/${encodeURIComponent(id)}/billing-profile`, body);
      print(b, () => profileText(b));
    });

  const ledger = program.command('ledger').description('operator: the double-entry ledger');
  ledger.command('trial-balance').option('--as-of <time>').option('--tenant <id>').action(async (o: { asOf?: string; tenant?: string }) => {
    const r = await client().request<J>('GET', `/v1/ledger/trial-balance${q({ asOf: o.asOf, tenantId: o.tenant })}`);
    print(r, () => `trial balance as of ${r['asOf']}\n${(r['currencies'] as J[]).map((c) => `${table(['account', 'debit', 'credit'],
      (c['accounts'] as J[]).map((a) => [a.account, money(a.debitMicros, c['currency']), money(a.creditMicros, c['currency'])]))}\n` +
      `total ${c['currency']}: debits ${money(c['debitsMicros'], c['currency'])}, credits ${money(c['creditsMicros'], c['currency'])}${c['balanced'] ? ' (balanced)' : ' — NOT BALANCED'}`).join('\n\n') || 'no entries'}`);
  });
  ledger.command('entries').option('--tenant <id>').option('--kind <kind>').option('--limit <n>', 'at most this many', '50')
    .action(async (o: { tenant?: string; kind?: string; limit: string }) => {
      const r = await client().request<{ entries: J[] }>('GET', `/v1/ledger/entries${q({ tenantId: o.tenant, kind: o.kind, limit: o.limit })}`);
      print(r, () => r.entries.map((e) => `${e.effectiveAt} ${e.kind} ${e.ref} ${e.memo}\n${table(['account', 'debit', 'credit'],
        (e.lines as J[]).map((l) => [l.account, BigInt(l.amountMicros) > 0n ? money(l.amountMicros, e.currency) : '', BigInt(l.amountMicros) < 0n ? money((-BigInt(l.amountMicros)).toString(), e.currency) : '']))}`).join('\n\n') || 'no entries');
    });
  ledger.command('recognize').description('recognise deferred revenue up to a date (default now)').option('--as-of <time>').action(async (o: { asOf?: string }) => {
    const r = await client().request<J>('POST', '/v1/ledger/recognize', o.asOf ? { asOf: o.asOf } : {});
    print(r, () => `${r['entries']} recognition entries up to ${r['asOf']}`);
  });

  program.command('backlog').description('remaining performance obligations: contracted, not yet recognised').option('--as-of <time>').option('--tenant <id>', 'operator: one tenant')
    .action(async (o: { asOf?: string; tenant?: string }) => {
      const r = await client().request<J>('GET', `/v1/backlog${q({ asOf: o.asOf, tenantId: o.tenant })}`);
      const rows = (list: J[], first: (x: J) => string): string[][] => list.map((x) => [first(x), x.currency, money(x.remainingMicros, x.currency), money(x.takeOrPayMicros, x.currency), money(x.within12MonthsMicros, x.currency), money(x.beyond12MonthsMicros, x.currency)]);
      const head = ['', 'currency', 'remaining', 'take-or-pay', '≤ 12 months', '> 12 months'];
      print(r, () => `backlog as of ${r['asOf']}\n${table(['contract', ...head.slice(1)], rows(r['contracts'] as J[], (x) => `${x.contractId} (${x.kind}, ${x.tenantId})`))}\n\n` +
        `${table(['tenant', ...head.slice(1)], rows(r['byTenant'] as J[], (x) => x.tenantId))}\n\n${table(['total', ...head.slice(1)], rows(r['totals'] as J[], () => 'all'))}`);
    });
}
