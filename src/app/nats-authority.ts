/**
 * The deployment's NATS authority (src/shared/nats-auth.ts), kept in the settings table under
 * `nats.authority`: created by the first control plane that needs it (insert if absent, then read
 * back, so two starting at once agree on one) and shared by every control plane of the database.
 * The seeds are as secret as the database itself; whoever holds them can sign NATS users.
 */
import { NatsAuthority, type NatsAuthoritySeeds } from '../shared/nats-auth.js';
import type { Settings } from './settings.js';

export const NATS_AUTHORITY_KEY = 'nats.authority';

export async function loadNatsAuthority(settings: Settings): Promise<NatsAuthority> {
  let seeds = await settings.get<NatsAuthoritySeeds>(NATS_AUTHORITY_KEY);
  if (!seeds) {
    await settings.setIfAbsent(NATS_AUTHORITY_KEY, await NatsAuthority.generate());
    seeds = await settings.get<NatsAuthoritySeeds>(NATS_AUTHORITY_KEY);
  }
  if (!seeds) throw new Error(`settings ${NATS_AUTHORITY_KEY}: could not be stored`);
  return NatsAuthority.from(seeds);
}
