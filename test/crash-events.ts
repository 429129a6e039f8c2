/**
 * The event log as the crash test checks it (issue 8: "every lease change is in the event log
 * exactly once, in order, across a SIGKILL"): read over HTTP by cursor, then held against what
 * the API acknowledged. Kept apart from ./helpers.js, which loads the in-process server.
 */
import { expect } from 'vitest';
import type { LeaseView } from '../src/leasing/index.js';

export const LEASE = 'dev.neocloud.lease.';
export const FLEET = 'dev.neocloud.fleet.';

/** A CloudEvent as GET /v1/events returns it. */
export interface FeedEvent {
  specversion: string;
  id: string;
  source: string;
  type: string;
  subject: string;
  time: string;
  datacontenttype: string;
  sequence: string;
  tenantid: string | null;
  data: Record<string, any>;
}

type Get = (path: string) => Promise<{ status: number; body: any }>;

/**
 * The whole feed, paging with `next` from `after=0` until an empty page. Each page's `next` is
 * its last event's sequence, and an empty page gives back the cursor it was asked with.
 */
export async function readFeed(get: Get, pageSize: number): Promise<FeedEvent[]> {
  const out: FeedEvent[] = [];
  let after = '0';
  for (let page = 0; page < 10_000; page++) {
    const r = await get(`/v1/events?after=${after}&limit=${pageSize}`);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const events = r.body.events as FeedEvent[];
    expect(events.length).toBeLessThanOrEqual(pageSize);
    if (events.length === 0) {
      expect(r.body.next, 'an empty page keeps the cursor').toBe(after);
      return out;
    }
    expect(r.body.next, 'next is the last sequence on the page').toBe(events[events.length - 1]!.sequence);
    out.push(...events);
    after = r.body.next;
  }
  throw new Error('event feed did not end within 10 000 pages');
}

/** Sequences exactly 1..N as canonical decimal strings (gap-free, no duplicate, increasing); ids unique. */
export function expectGapFree(log: FeedEvent[]): void {
  const bad = log.filter((e, i) => e.sequence !== String(i + 1));
  expect(bad.slice(0, 5).map((e) => `${e.sequence}@${log.indexOf(e)}`), 'sequence must be 1..N, each once, in order').toEqual([]);
  const ids = new Map<string, string[]>();
  for (const e of log) ids.set(e.id, [...(ids.get(e.id) ?? []), e.sequence]);
  expect([...ids].filter(([, seqs]) => seqs.length > 1), 'event ids are unique').toEqual([]);
  for (const e of log) {
    expect(e.specversion).toBe('1.0');
    expect(e.type.startsWith(LEASE) || e.type.startsWith(FLEET), `event ${e.sequence} type ${e.type}`).toBe(true);
  }
}

/** Lease events by subject, in log order. */
export function bySubject(log: FeedEvent[]): Map<string, FeedEvent[]> {
  const m = new Map<string, FeedEvent[]>();
  for (const e of log) {
    if (!e.type.startsWith(LEASE)) continue;
    m.set(e.subject, [...(m.get(e.subject) ?? []), e]);
  }
  return m;
}

const sortedUuids = (v: LeaseView): string[] => v.gpus.map((g) => g.uuid).sort();

/**
 * One placed lease's events against the response that acknowledged it: exactly `requested`,
 * `placed` and, once its start has passed by `sweptToMs`, `started`, each once and in that
 * order, for its tenant. `requested` and `placed` are written by one statement (consecutive
 * sequences), and so is `started` for a lease that starts at once; a later start is the sweep's
 * to write. The placed event carries the GPUs and money the lease was acknowledged with.
 * Every start up to `sweptToMs` must have been swept, and no start may fall between it and the
 * read. Returns what is wrong (empty: fine), so one failure names every lease at fault.
 */
export function leaseEventFaults(v: LeaseView, mine: FeedEvent[] | undefined, sweptToMs: number): string[] {
  const faults: string[] = [];
  const say = (what: string): void => { faults.push(`${v.id}: ${what}`); };
  const types = (mine ?? []).map((e) => e.type.slice(LEASE.length));
  const startsAtOnce = Date.parse(v.start) <= Date.parse(v.createdAt);
  const want = startsAtOnce || Date.parse(v.start) <= sweptToMs ? ['requested', 'placed', 'started'] : ['requested', 'placed'];
  if (types.join(' → ') !== want.join(' → ')) say(`events ${types.join(' → ') || '(none)'}, want ${want.join(' → ')}`);
  else {
    const seq = (mine ?? []).map((e) => Number(e.sequence));
    if (seq[1] !== seq[0]! + 1) say(`requested #${seq[0]} and placed #${seq[1]} not written together`);
    if (startsAtOnce && seq[2] !== seq[1]! + 1) say(`started at once, but placed #${seq[1]} and started #${seq[2]} not written together`);
  }
  for (const e of mine ?? []) {
    if (e.tenantid !== v.tenantId) say(`${e.type} #${e.sequence} tenantid ${e.tenantid}, want ${v.tenantId}`);
    if (e.data['leaseId'] !== v.id) say(`${e.type} #${e.sequence} data.leaseId ${e.data['leaseId']}`);
  }
  const requested = mine?.filter((e) => e.type === `${LEASE}requested`);
  if (requested?.length === 1) {
    const d = requested[0]!.data;
    const got = { gpuModel: d['gpuModel'], gpuCount: d['gpuCount'], class: d['class'], placement: d['placement'] };
    const exp = { gpuModel: v.gpuModel, gpuCount: v.gpuCount, class: v.class, placement: v.placement };
    if (JSON.stringify(got) !== JSON.stringify(exp)) say(`requested ${JSON.stringify(got)}, acknowledged ${JSON.stringify(exp)}`);
    if (requested[0]!.time !== v.createdAt) say(`requested at ${requested[0]!.time}, created ${v.createdAt}`);
  }
  const placed = mine?.filter((e) => e.type === `${LEASE}placed`);
  if (placed?.length === 1) {
    const d = placed[0]!.data;
    const gpus = Array.isArray(d['gpus']) ? [...(d['gpus'] as string[])].sort() : d['gpus'];
    if (JSON.stringify(gpus) !== JSON.stringify(sortedUuids(v))) say(`placed gpus ${JSON.stringify(gpus)}, acknowledged ${JSON.stringify(sortedUuids(v))}`);
    if (d['totalMicros'] !== v.totalMicros) say(`placed totalMicros ${JSON.stringify(d['totalMicros'])}, acknowledged ${JSON.stringify(v.totalMicros)}`);
    if (d['priceMicrosPerGpuHour'] !== v.priceMicrosPerGpuHour) say(`placed price ${JSON.stringify(d['priceMicrosPerGpuHour'])}, acknowledged ${JSON.stringify(v.priceMicrosPerGpuHour)}`);
    if (d['start'] !== v.start || d['end'] !== v.end) say(`placed window ${d['start']}–${d['end']}, acknowledged ${v.start}–${v.end}`);
    if (placed[0]!.time !== v.createdAt) say(`placed at ${placed[0]!.time}, created ${v.createdAt}`);
  }
  const started = mine?.filter((e) => e.type === `${LEASE}started`);
  if (started?.length === 1) {
    const d = started[0]!.data;
    if (started[0]!.time !== v.start) say(`started at ${started[0]!.time}, start ${v.start}`);
    const gpus = Array.isArray(d['gpus']) ? [...(d['gpus'] as string[])].sort() : d['gpus'];
    if (JSON.stringify(gpus) !== JSON.stringify(sortedUuids(v))) say(`started gpus ${JSON.stringify(gpus)}, acknowledged ${JSON.stringify(sortedUuids(v))}`);
  }
  return faults;
}

/**
 * Waits (at most `withinMs`) until each of `leases` has a `started` event: their starts, seconds
 * after they were booked, are written by the server's sweep (every 5 s, and once at start-up).
 * Returns the time waited; a start never written is left for the checks to report.
 */
export async function waitForSweptStarts(get: Get, leases: LeaseView[], withinMs: number): Promise<number> {
  const t0 = Date.now();
  const lastStart = Math.max(0, ...leases.map((v) => Date.parse(v.start)));
  for (;;) {
    if (Date.now() > lastStart) {
      const started = new Set((await readFeed(get, 1000)).filter((e) => e.type === `${LEASE}started`).map((e) => e.subject));
      if (leases.every((v) => started.has(v.id))) return Date.now() - t0;
    }
    if (Date.now() - t0 > withinMs) return Date.now() - t0;
    await new Promise((res) => setTimeout(res, 200));
  }
}
