/** Reading the log by cursor, as a principal: the operator reads everything; a tenant only events that concern it. */
import type { Principal } from '../tenancy/index.js';
import type { CloudEvent, EventLog } from './event-log.js';

export const MAX_EVENTS_PER_PAGE = 1_000;

export interface EventPage {
  events: CloudEvent[];
  /** Pass as `after` to continue; the same cursor when nothing new has been written. */
  next: string;
}

export class EventFeed {
  constructor(private readonly log: EventLog) {}

  /** The log's last sequence now: a reader that starts here sees only what happens next. */
  async head(): Promise<string> {
    return String(await this.log.head());
  }

  async read(principal: Principal, afterSeq: number, limit: number): Promise<EventPage> {
    const events = await this.log.read(afterSeq, Math.min(limit, MAX_EVENTS_PER_PAGE), principal.kind === 'tenant' ? principal.tenantId : null);
    return { events, next: events.length ? events[events.length - 1]!.sequence : String(afterSeq) };
  }
}
