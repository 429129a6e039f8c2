/** Every page of the console, in nav order. The first page a role may see is its home. */
import { billingPage } from './billing-view.js';
import { capacityPage } from './capacity-view.js';
import { fleetPage } from './fleet-view.js';
import { keysPage } from './keys-view.js';
import { leaseDetailPage } from './lease-detail-view.js';
import { leaseNewPage } from './lease-new-view.js';
import { leasesPage } from './leases-view.js';
import { nodePage } from './node-view.js';
import { queuePage } from './queue-view.js';
import { revenuePage } from './revenue-view.js';
import { schedulerPage } from './scheduler-view.js';
import { tenantsPage } from './tenants-view.js';
import type { Page, Role } from './view.js';

export const PAGES: readonly Page[] = [
  fleetPage, nodePage, leasesPage, leaseNewPage, leaseDetailPage, capacityPage, queuePage, schedulerPage, tenantsPage, revenuePage, billingPage, keysPage,
];

export const homeOf = (role: Role): string => (role === 'operator' ? 'fleet' : 'leases');
