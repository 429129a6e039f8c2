/**
 * The console's live view: follows the event log (GET /v1/events?after=cursor) by polling, from
 * the head GET /v1/me gave at sign-in, and tells the open page when something changed so it
 * re-reads what it shows. The top bar says "as of" the last successful poll (the browser's clock,
 * in UTC): how fresh the page is. Polling, not server-sent events: one short request every
 * POLL_MS through the same authenticated client, and it works through any proxy.
 */
import { api } from './api.js';

export const POLL_MS = 2_000;
/**
 * Time-derived figures (a lease's hours used and accrued money, its state at its start or end)
 * change with no event: every TICK_MS the feed hands pages an empty batch, which means "re-read".
 */
export const TICK_MS = 30_000;
const PAGE = 1_000;

export interface LiveEvent { id: string; type: string; subject: string; time: string; sequence: string; data: Record<string, unknown> }

export class LiveFeed {
  private timer: ReturnType<typeof setTimeout> | null = null;
  private readonly listeners = new Set<(events: LiveEvent[]) => void>();
  private stopped = true;
  private running = false;
  private lastTick = Date.now();
  private again = false;

  constructor(private cursor: string, private readonly onStatus: (asOfMs: number | null, error?: unknown) => void) {}

  start(): void {
    this.stopped = false;
    this.onStatus(Date.now());
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.listeners.clear();
  }

  /** Calls `fn` with each batch of new events; returns the unsubscribe. */
  subscribe(fn: (events: LiveEvent[]) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Polls now (e.g. right after this console changed something). */
  poke(): void {
    if (this.stopped) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    void this.poll();
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.poll(), POLL_MS);
  }

  private async poll(): Promise<void> {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    try {
      let more = true;
      const batch: LiveEvent[] = [];
      while (more && !this.stopped) {
        const page = await api<{ events: LiveEvent[]; next: string }>('GET', `/v1/events?after=${this.cursor}&limit=${PAGE}`);
        batch.push(...page.events);
        this.cursor = page.next;
        more = page.events.length === PAGE;
      }
      if (this.stopped) return;
      this.onStatus(Date.now());
      const tick = Date.now() - this.lastTick >= TICK_MS;
      if (batch.length || tick) {
        this.lastTick = Date.now();
        for (const fn of [...this.listeners]) fn(batch);
      }
    } catch (err) {
      if (this.stopped) return;
      this.onStatus(null, err);
    } finally {
      this.running = false;
    }
    if (this.again) {
      this.again = false;
      if (this.timer !== null) clearTimeout(this.timer);
      void this.poll();
      return;
    }
    this.schedule();
  }
}
